"""The shop as a customer uses it: browse, fill a cart, check out, get the email."""

from __future__ import annotations

import re
import time
import uuid

from conftest import Mailbox, Urls, expect_task_timeline, save_screenshot, sent_to
from playwright.sync_api import Page, expect


def products_in_stock(page: Page, shop: str, *, wanted: int, units: int) -> list[str]:
    """The first `wanted` products with `units` or more left: the suite reruns on one database."""
    page.goto(shop)
    headings = page.get_by_role("main").get_by_role("heading", level=2)
    names = [name.strip() for name in headings.all_inner_texts()]
    found = []
    for name in names:
        page.goto(shop)
        page.get_by_role("link", name=name, exact=True).click()
        stock = re.search(r"(\d+) in stock", page.get_by_role("main").inner_text())
        if stock and int(stock.group(1)) >= units:
            found.append(name)
        if len(found) == wanted:
            return found
    raise AssertionError(f"fewer than {wanted} products have {units} units left: `make clean`")


def add_to_cart(page: Page, product: str, quantity: int) -> None:
    page.get_by_role("link", name="Products", exact=True).click()
    page.get_by_role("link", name=product, exact=True).click()
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()


def test_checkout_sends_one_confirmation_email(page: Page, urls: Urls, mailbox: Mailbox) -> None:
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    first, second = products_in_stock(page, urls.shop, wanted=2, units=2)
    page.goto(urls.shop)

    add_to_cart(page, first, 2)
    add_to_cart(page, second, 1)
    cart_total = page.get_by_test_id("cart-total").inner_text()
    page.get_by_role("link", name="Check out").click()

    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("heading", name="Thank you, Grace Hopper")).to_be_visible()
    number = page.get_by_test_id("order-number").inner_text()
    total = page.get_by_test_id("order-total").inner_text()
    assert re.fullmatch(r"SO-[A-Z0-9]{8}", number)
    assert total == cart_total
    # The page polls until the worker has sent the email.
    expect(page.get_by_test_id("confirmation-status")).to_have_text(
        f"Confirmation email sent to {email}.", timeout=30_000
    )
    # The task's life on the page: the order committed before the task was published.
    expect_task_timeline(page, ["committed", "published", "received", "started", "succeeded"])
    save_screenshot(page, "shop-order")

    message = mailbox.wait_for(sent_to(email))
    assert number in message["Subject"]
    assert number in message["Text"]
    assert total.removeprefix("€") in message["Text"]
    assert number in message["HTML"]
    time.sleep(1)  # room for a second copy, were one to be sent
    assert len(mailbox.search(sent_to(email))) == 1
