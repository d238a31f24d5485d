"""Report-ready webhooks: an async client, run from a synchronous Celery task."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from unittest.mock import MagicMock

import httpx2
import pytest

from reports import tasks
from reports.config import settings
from reports.models import Report, User
from reports.notify import post_notices
from reports.tasks import build_report, notify_report_ready

MakeReport = Callable[..., Report]


def test_post_notices_posts_to_every_url_and_raises_on_failure() -> None:
    seen: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(f"{request.url.host} {json.loads(request.content)['report_id']}")
        return httpx2.Response(500 if request.url.host == "down" else 204)

    transport = httpx2.MockTransport(answer)
    urls = ["http://a/hook", "http://b/hook"]
    assert asyncio.run(post_notices(urls, {"report_id": 7}, transport=transport)) == [204, 204]
    assert sorted(seen) == ["a 7", "b 7"]
    with pytest.raises(httpx2.HTTPStatusError):
        asyncio.run(post_notices(["http://down/hook"], {"report_id": 7}, transport=transport))


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP endpoint on loopback that keeps the JSON bodies it receives."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_notify_task_runs_the_coroutine_from_sync_code(
    bob: User,
    make_report: MakeReport,
    webhook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = webhook
    monkeypatch.setattr(settings, "reports_webhook_urls", [url])
    report = make_report(bob, status="done")
    assert notify_report_ready(report.id) == [204]
    assert received == [
        {
            "report_id": report.id,
            "status": "done",
            "url": f"http://127.0.0.1:8003/reports/{report.id}",
        }
    ]


def test_a_built_report_is_announced_only_when_webhooks_are_set(
    bob: User, make_report: MakeReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = MagicMock()
    monkeypatch.setattr(tasks, "notify_report_ready", notify)
    build_report(make_report(bob).id)
    notify.delay.assert_not_called()
    monkeypatch.setattr(settings, "reports_webhook_urls", ["http://example.invalid/hook"])
    report = make_report(bob)
    build_report(report.id)
    notify.delay.assert_called_once_with(report.id)
