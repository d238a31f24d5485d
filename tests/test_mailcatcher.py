"""The native mail catcher stores what it receives and answers Mailpit's read API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.mail import build_message, deliver
from shared.settings import SharedSettings
from shared.testing import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    smtp_port, web_port = free_port(), free_port()
    env = {**os.environ, "VAR_DIR": str(tmp_path), "SMTP_PORT": str(smtp_port)}
    env["MAIL_WEB_PORT"] = str(web_port)
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "mailcatcher.py")], env=env)
    base = f"http://127.0.0.1:{web_port}"

    def live() -> bool:
        try:
            return httpx.get(f"{base}/livez").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(live, timeout=15)
        yield smtp_port, base, tmp_path / "mail"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_sent_message_is_in_the_maildir_and_the_api(catcher: tuple[int, str, Path]) -> None:
    smtp_port, base, maildir = catcher
    message = build_message(
        sender="shop@example.com",
        to=["ada@example.com"],
        subject="Order A-1",
        text="Total 12.50",
        html="<p>Total <b>12.50</b></p>",
    )

    deliver(message, SharedSettings(smtp_port=smtp_port))

    assert len(list((maildir / "new").iterdir())) == 1
    listed = httpx.get(f"{base}/api/v1/messages").json()
    assert listed["total"] == 1
    summary = listed["messages"][0]
    assert summary["To"] == [{"Name": "", "Address": "ada@example.com"}]
    full = httpx.get(f"{base}/api/v1/message/{summary['ID']}").json()
    assert full["Subject"] == "Order A-1"
    assert full["Text"].strip() == "Total 12.50"
    assert "<b>12.50</b>" in full["HTML"]
    page = httpx.get(f"{base}/")
    assert "Order A-1" in page.text


def test_an_unknown_message_is_404(catcher: tuple[int, str, Path]) -> None:
    _, base, _ = catcher

    assert httpx.get(f"{base}/api/v1/message/nope").status_code == 404
