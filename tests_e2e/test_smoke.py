"""The stack is up: every app's home page, Flower with every worker, a ping per app."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx2
import pytest
from conftest import Urls, save_screenshot
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


def alive_workers(urls: Urls, credentials: tuple[str, str]) -> set[str]:
    """The node names Flower counts as alive (from their heartbeats)."""
    status = httpx2.get(f"{urls.flower}/api/workers", params={"status": "true"}, auth=credentials)
    return {node for node, alive in status.raise_for_status().json().items() if alive}


def test_flower_shows_every_live_worker_online(
    flower: BrowserContext, urls: Urls, flower_credentials: tuple[str, str]
) -> None:
    alive = alive_workers(urls, flower_credentials)
    page = flower.new_page()
    page.goto(f"{urls.flower}/workers")

    for queue in QUEUES:
        assert any(node.startswith(f"{queue}@") for node in alive), f"no {queue} worker is alive"
    for node in alive:
        expect(page.get_by_role("row").filter(has_text=node)).to_contain_text("Online")
    save_screenshot(page, "flower-workers")


def test_flower_sees_each_replica_of_a_scaled_worker(
    urls: Urls, flower_credentials: tuple[str, str]
) -> None:
    """`EXPECT_WORKERS=shop:3,blog:2` after `docker compose up --scale shop-worker=3 ...`."""
    expected = os.environ.get("EXPECT_WORKERS")
    if not expected:
        pytest.skip("EXPECT_WORKERS is not set: the stack runs one worker per queue")
    wanted = {queue: int(count) for queue, count in (p.split(":") for p in expected.split(","))}

    def counts() -> dict[str, int]:
        alive = alive_workers(urls, flower_credentials)
        return {queue: sum(n.startswith(f"{queue}@") for n in alive) for queue in wanted}

    deadline = time.monotonic() + 30  # a new replica's first heartbeat takes a few seconds
    while (seen := counts()) != wanted and time.monotonic() < deadline:
        time.sleep(1)
    assert seen == wanted


@pytest.mark.parametrize("path", ["/", "/workers", "/tasks", "/api/workers", "/metrics"])
def test_flower_requires_its_login(urls: Urls, path: str) -> None:
    assert httpx2.get(f"{urls.flower}{path}").status_code == 401
    assert httpx2.get(f"{urls.flower}{path}", auth=("admin", "wrong")).status_code == 401


def test_each_worker_consumes_only_its_own_queue(
    urls: Urls, flower_credentials: tuple[str, str]
) -> None:
    workers = httpx2.get(
        f"{urls.flower}/api/workers", params={"refresh": "true"}, auth=flower_credentials
    ).json()

    queues = {
        node.split("@")[0]: sorted(q["name"] for q in info.get("active_queues") or [])
        for node, info in workers.items()
    }
    assert {queue: queues.get(queue) for queue in QUEUES} == {q: [q] for q in QUEUES}
