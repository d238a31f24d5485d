"""Browser tests over a running stack, native or compose.

Every address comes from the stack's settings (the environment, then .env;
defaults: the native stack on loopback), so the same tests run against
`make up` either way. Chromium is Debian's (/usr/bin/chromium): Playwright
cannot download its own here.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stack  # noqa: E402 (the script is not a package)

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
#: Where the tests save their screenshots: var/screenshots, or docs/screenshots
#: for the README (`make screenshots`).
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS") or ROOT / "var" / "screenshots")


@dataclass(frozen=True)
class Urls:
    shop: str
    blog: str
    reports: str
    flower: str
    mail: str


@pytest.fixture(scope="session")
def settings() -> stack.StackSettings:
    """The stack's settings: the environment first, then the repository's .env."""
    return stack.settings()


@pytest.fixture(scope="session")
def urls(settings: stack.StackSettings) -> Urls:
    return Urls(
        shop=settings.shop_url,
        blog=settings.blog_url,
        reports=settings.reports_url,
        flower=settings.flower_url,
        mail=settings.mail_url,
    )


@pytest.fixture(scope="session")
def flower_credentials(settings: stack.StackSettings) -> tuple[str, str]:
    credentials = settings.flower_credentials()
    if credentials is None:
        pytest.fail("FLOWER_BASIC_AUTH is not set (make up writes it to .env)")
    return credentials


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not SYSTEM_CHROMIUM.exists():
        return browser_type_launch_args
    return {
        **browser_type_launch_args,
        "executable_path": str(SYSTEM_CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


class Mailbox:
    """Reads the mail catcher through Mailpit's HTTP API (the native catcher speaks it too)."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx2.Client(base_url=base_url, timeout=5)

    def search(self, query: str) -> list[dict[str, Any]]:
        """The newest 50 messages matching Mailpit search `query`, newest first."""
        found = self.client.get("/api/v1/search", params={"query": query})
        return list(found.raise_for_status().json()["messages"])

    def message(self, message_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"/api/v1/message/{message_id}").raise_for_status().json())

    def wait_for(self, query: str, *, timeout: float = 30) -> dict[str, Any]:
        """The full message (Subject, Text, HTML...) of the newest one matching `query`.

        A search, not the list: the list is paged (50 a page), so a message can be
        off its first page when many others arrived after it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.search(query)
            if found:
                return self.message(found[0]["ID"])
            time.sleep(0.5)
        pytest.fail(f"no email matched {query!r} within {timeout}s")


@pytest.fixture(scope="session")
def mailbox(urls: Urls) -> Mailbox:
    return Mailbox(urls.mail)


def sent_to(address: str) -> str:
    """A `Mailbox.wait_for` query for the messages that mention `address` (sent to it).

    The address as a plain word, not Mailpit's `to:"..."` filter: the plain search
    is the part of the API that every Mailpit-compatible server answers alike.
    """
    return address


def expect_task_timeline(page: Page, kinds: list[str], *, timeout: float = 30) -> list[str]:
    """Wait until the page's task timeline shows `kinds` in this order, and return all it shows.

    Every app renders its timeline the same way: a table labelled "Task
    timeline", a row per event, oldest first, the event's name in the row's
    `data-kind`. The other events (progress, a second receipt) may come between.
    The page is reloaded while the events are still arriving.
    """
    table = page.get_by_role("table", name="Task timeline")
    deadline = time.monotonic() + timeout
    shown: list[str] = []
    while True:
        expect(table).to_be_visible()
        shown = [
            row.get_attribute("data-kind") or "" for row in table.locator("tr[data-kind]").all()
        ]
        remaining = iter(shown)
        if all(kind in remaining for kind in kinds):  # a subsequence, in order
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"the task timeline shows {shown}, not {kinds} in this order")
        time.sleep(1)
        page.reload()


def save_screenshot(page: Page, name: str) -> Path:
    """Save the whole page as SCREENSHOTS/`name`.png, as it looks at this step."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True, animations="disabled")
    return path
