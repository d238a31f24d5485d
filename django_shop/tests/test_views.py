"""The pages a customer sees, with the task mocked."""

from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from shop.models import Order, Product
from shop.tasks import send_order_confirmation
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_home_lists_active_products_and_links_the_stack(client: Client, settings: Settings) -> None:
    ProductFactory.create(name="Hand Grinder")
    ProductFactory.create(name="Retired Mug", active=False)

    page = client.get("/").content.decode()

    assert "Hand Grinder" in page
    assert "Retired Mug" not in page
    for url in settings.SHOP_LINKS.values():
        assert f'href="{url}"' in page


def test_product_detail(client: Client) -> None:
    product = ProductFactory.create(name="Scale", price=Decimal("45.00"))
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    assert "€45.00" in response.content.decode()


def test_cart_add_change_and_remove(client: Client) -> None:
    product = ProductFactory.create(price=Decimal("4.00"))
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 2})
    assert client.get(reverse("shop:cart")).context["total"] == Decimal("8.00")

    client.post(reverse("shop:cart_update", args=[product.pk]), {"quantity": 3})
    assert client.get(reverse("shop:cart")).context["total"] == Decimal("12.00")

    client.post(reverse("shop:cart_remove", args=[product.pk]))
    assert client.get(reverse("shop:cart")).context["lines"] == []


def test_cart_rejects_a_bad_quantity(client: Client) -> None:
    product = ProductFactory.create()
    response = client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 0})
    assert response.status_code == 400
    assert client.get(reverse("shop:cart")).context["lines"] == []


def place_order_through_the_site(client: Client, product: Product) -> Order:
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    with mock.patch.object(send_order_confirmation, "delay"):
        client.post(reverse("shop:checkout"), {"name": "Ada", "email": "ada@example.com"})
    return Order.objects.latest("pk")


def test_order_page_reports_the_confirmation(client: Client) -> None:
    order = place_order_through_the_site(client, ProductFactory.create())
    status_url = reverse("shop:order_status", args=[order.number])

    page = client.get(order.get_absolute_url()).content.decode()
    assert "Sending your confirmation email" in page
    assert client.get(status_url).json() == {"confirmation_sent": False, "sent_at": None}

    Order.objects.filter(pk=order.pk).update(confirmation_sent_at=timezone.now())
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Confirmation email sent to ada@example.com." in page
    assert client.get(status_url).json()["confirmation_sent"] is True


def test_orders_are_visible_only_to_the_session_that_placed_them(client: Client) -> None:
    """Every route of the URLconf that names an order: 404 for any other session."""
    from django.urls import URLPattern, get_resolver

    order = place_order_through_the_site(client, ProductFactory.create())
    stranger, other_customer = Client(), Client()
    place_order_through_the_site(other_customer, ProductFactory.create())  # a session with orders
    order_routes = [
        f"shop:{pattern.name}"
        for pattern in get_resolver("shop.urls").url_patterns
        if isinstance(pattern, URLPattern) and "number" in pattern.pattern.converters
    ]
    assert order_routes == ["shop:order_detail", "shop:order_status"]

    for route in order_routes:
        url = reverse(route, args=[order.number])
        assert client.get(url).status_code == 200, url
        assert stranger.get(url).status_code == 404, url
        assert other_customer.get(url).status_code == 404, url


def test_seed_catalogue_loads_a_dozen_products_once() -> None:
    call_command("seed_catalogue")
    call_command("seed_catalogue")
    assert Product.objects.count() == 12


def test_responses_carry_a_request_id(client: Client) -> None:
    response = client.get("/", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"


def test_every_state_changing_page_refuses_a_post_without_its_csrf_token() -> None:
    """Every route of the shop that accepts POST, found in the URLconf, checks CSRF."""
    from django.urls import URLPattern, get_resolver

    product = ProductFactory.create()
    browser = Client(enforce_csrf_checks=True)
    posted = []
    for pattern in get_resolver("shop.urls").url_patterns:
        assert isinstance(pattern, URLPattern)  # shop.urls includes no other URLconf
        kwargs = {"product_id": product.pk} if "product_id" in str(pattern.pattern) else {}
        if "<" in str(pattern.pattern) and not kwargs:
            continue  # order pages and product pages: GET only, checked below
        url = reverse(f"shop:{pattern.name}", kwargs=kwargs)
        response = browser.post(url, {"quantity": 1, "name": "x", "email": "x@example.com"})
        if response.status_code != 405:  # a GET-only page
            posted.append(pattern.name)
            assert response.status_code == 403, pattern.name
    assert {"cart_add", "cart_update", "cart_remove", "checkout"} <= set(posted)


HOSTILE_VALUES = [
    "",
    " ",
    "x" * 100_000,
    "\x00",
    "name\r\nBcc: victim@example.com",
    "<script>alert(1)</script>",
    "1e309",
    "-1",
    "99999999999999999999999",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_input_on_every_form_is_a_form_error_never_a_500(
    client: Client, value: str
) -> None:
    product = ProductFactory.create(stock=5)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    posts = [
        (reverse("shop:cart_add", args=[product.pk]), {"quantity": value}),
        (reverse("shop:cart_update", args=[product.pk]), {"quantity": value}),
        (reverse("shop:checkout"), {"name": value, "email": "ada@example.com"}),
        (reverse("shop:checkout"), {"name": "Ada", "email": value}),
    ]
    for url, data in posts:
        response = client.post(url, data)

        assert response.status_code < 500, (url, data)
    # Only a valid address places an order. (Not a query for `value`: PostgreSQL
    # refuses a NUL even in a WHERE clause.)
    assert all("@" in order.customer_email for order in Order.objects.all())


def test_a_body_that_is_not_utf8_is_a_form_error_never_a_500(client: Client) -> None:
    product = ProductFactory.create(stock=5)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    form = "application/x-www-form-urlencoded"
    for url, body in [
        (reverse("shop:cart_add", args=[product.pk]), b"quantity=%FF%FE"),
        (reverse("shop:checkout"), b"name=%FF%FE&email=ada%40example.com"),
        (reverse("shop:checkout"), b"name=\xff\xfe&email=\xff@example.com"),
    ]:
        assert client.post(url, body, content_type=form).status_code < 500, body
