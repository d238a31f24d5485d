"""The blog in a browser: register, write a post, export it, watch the bar, download the zip."""

from __future__ import annotations

import uuid
from zipfile import ZipFile

from conftest import Urls, expect_task_timeline, save_screenshot
from playwright.sync_api import Page, expect

PASSWORD = "a browser's password"  # noqa: S105


def register(page: Page, urls: Urls, username: str) -> None:
    page.goto(f"{urls.blog}/auth/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("link", name=f"Account ({username})")).to_be_visible()


def test_export_my_data_and_find_my_post_in_the_zip(page: Page, urls: Urls) -> None:
    username = f"reader-{uuid.uuid4().hex[:8]}"
    title = f"Notes from {username}"
    register(page, urls, username)

    page.get_by_role("link", name="Write a post").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Body").fill("Written in a browser, exported by a Celery worker.")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()

    page.get_by_role("link", name=f"Account ({username})").click()
    page.get_by_role("button", name="Export my data").click()

    expect(page.get_by_test_id("export-percent")).to_have_text("100 %", timeout=30_000)
    expect(page.get_by_role("progressbar", name="Export progress")).to_have_attribute(
        "value", "100"
    )
    with page.expect_download() as download:
        page.get_by_role("link", name="Download archive").click()

    with ZipFile(download.value.path()) as archive:
        markdown = [name for name in archive.namelist() if name.endswith(".md")]
        assert len(markdown) == 1
        assert archive.read(markdown[0]).decode().startswith(f"# {title}\n")
        assert title in archive.read("posts.json").decode()

    # The task's life on the same page: the commit comes before the publish.
    expect_task_timeline(page, ["committed", "published", "received", "started", "succeeded"])
    save_screenshot(page, "blog-export")
