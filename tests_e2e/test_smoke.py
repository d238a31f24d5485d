"""The stack is up: every app's home page, Flower with one worker per queue, a ping per app."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from conftest import Urls
from playwright.sync_api import Browser, BrowserContext, Page, expect

QUEUES = ("shop", "blog", "reports")


@pytest.mark.parametrize("app", QUEUES)
def test_home_page_links_to_the_other_apps_and_flower(page: Page, urls: Urls, app: str) -> None:
    page.goto(getattr(urls, app))

    expect(page.get_by_role("heading", level=1)).to_be_visible()
    for other in (name for name in QUEUES if name != app):
        expect(page.locator(f"a[href^='{getattr(urls, other)}']").first).to_be_attached()
    expect(page.locator(f"a[href^='{urls.flower}']").first).to_be_attached()


@pytest.mark.parametrize("app", QUEUES)
def test_ping_round_trips_through_the_apps_own_worker(page: Page, urls: Urls, app: str) -> None:
    response = page.goto(f"{getattr(urls, app)}/health/worker")

    assert response is not None
    assert response.status == 200
    body = json.loads(page.locator("body").inner_text())
    worker = next(check for check in body["checks"] if check["name"] == "worker")
    assert worker["ok"] is True
    assert f"{app}@" in worker["detail"]


@pytest.fixture
def flower(browser: Browser, flower_credentials: tuple[str, str]) -> Iterator[BrowserContext]:
    user, password = flower_credentials
    context = browser.new_context(http_credentials={"username": user, "password": password})
    yield context
    context.close()


def test_flower_shows_one_online_worker_per_queue(flower: BrowserContext, urls: Urls) -> None:
    page = flower.new_page()
    page.goto(f"{urls.flower}/workers")

    for queue in QUEUES:
        row = page.get_by_role("row").filter(has_text=f"{queue}@")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Online")


def test_flower_requires_its_login(urls: Urls) -> None:
    assert httpx.get(f"{urls.flower}/api/workers").status_code == 401


def test_each_worker_consumes_only_its_own_queue(
    urls: Urls, flower_credentials: tuple[str, str]
) -> None:
    workers = httpx.get(
        f"{urls.flower}/api/workers", params={"refresh": "true"}, auth=flower_credentials
    ).json()

    queues = {
        node.split("@")[0]: sorted(q["name"] for q in info.get("active_queues") or [])
        for node, info in workers.items()
    }
    assert {queue: queues.get(queue) for queue in QUEUES} == {q: [q] for q in QUEUES}
