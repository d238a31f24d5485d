"""The native mail catcher stores what it receives and answers Mailpit's API from an index."""

from __future__ import annotations

import json
import mailbox
import os
import re
import smtplib
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from blog.mail import build_message, deliver
from shared.settings import SharedSettings
from shared.testing import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Catcher:
    """scripts/mailcatcher.py over one VAR_DIR, on ports that stay the same across restarts."""

    var_dir: Path
    smtp_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def maildir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def index_file(self) -> Path:
        return self.maildir / "mailcatcher-index.jsonl"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        env = {**os.environ, "VAR_DIR": str(self.var_dir), "SMTP_PORT": str(self.smtp_port)}
        env["MAIL_WEB_PORT"] = str(self.web_port)
        command = [sys.executable, str(ROOT / "scripts" / "mailcatcher.py")]
        self.process = subprocess.Popen(command, env=env)
        wait_until(self._live, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _live(self) -> bool:
        try:
            return httpx2.get(f"{self.base}/livez").status_code == 200
        except httpx2.TransportError:
            return False

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return dict(httpx2.get(f"{self.base}{path}", params=params).raise_for_status().json())

    def subjects(self, path: str = "/api/v1/messages", **params: Any) -> list[str]:
        """The subjects `path` lists, in its order."""
        return [message["Subject"] for message in self.get(path, **params)["messages"]]

    def found(self, query: str, **params: Any) -> list[str]:
        """The subjects a search for `query` lists, in its order."""
        return self.subjects("/api/v1/search", query=query, **params)

    def send(self, message: EmailMessage) -> None:
        deliver(message, SharedSettings(smtp_port=self.smtp_port))

    def send_all(self, messages: Iterable[EmailMessage]) -> None:
        """Send `messages` in order over one SMTP connection."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            for message in messages:
                smtp.send_message(message)


def email(subject: str, **fields: Any) -> EmailMessage:
    values = {"sender": "shop@example.com", "to": ["ada@example.com"], "text": "Hello"}
    return build_message(**{**values, **fields, "subject": subject})


@pytest.fixture
def stopped_catcher(tmp_path: Path) -> Iterator[Catcher]:
    """A catcher that is not running yet, so a test can fill its Maildir first."""
    catcher = Catcher(tmp_path)
    try:
        yield catcher
    finally:
        catcher.stop()


@pytest.fixture
def catcher(stopped_catcher: Catcher) -> Catcher:
    stopped_catcher.start()
    return stopped_catcher


def test_a_sent_message_is_in_the_maildir_and_the_api(catcher: Catcher) -> None:
    catcher.send(
        build_message(
            sender="shop@example.com",
            to=["ada@example.com"],
            subject="Order A-1",
            text="Total 12.50",
            html="<p>Total <b>12.50</b></p>",
        )
    )

    assert len(list((catcher.maildir / "new").iterdir())) == 1
    listed = catcher.get("/api/v1/messages")
    assert listed["total"] == 1
    summary = listed["messages"][0]
    assert summary["To"] == [{"Name": "", "Address": "ada@example.com"}]
    assert summary["Snippet"] == "Total 12.50"
    full = catcher.get(f"/api/v1/message/{summary['ID']}")
    assert full["Subject"] == "Order A-1"
    assert full["Text"].strip() == "Total 12.50"
    assert "<b>12.50</b>" in full["HTML"]
    page = httpx2.get(f"{catcher.base}/")
    assert "Order A-1" in page.text


def test_an_unknown_message_is_404(catcher: Catcher) -> None:
    assert httpx2.get(f"{catcher.base}/api/v1/message/nope").status_code == 404


def test_a_message_is_listed_as_soon_as_smtp_accepted_it(catcher: Catcher) -> None:
    for number in range(5):
        catcher.send(email(f"Order {number}"))

        listed = catcher.get("/api/v1/messages")

        assert listed["total"] == number + 1
        assert listed["messages"][0]["Subject"] == f"Order {number}"


def test_created_is_when_smtp_received_the_message_not_its_date(catcher: Catcher) -> None:
    message = email("Order B-1")
    message.replace_header("Date", format_datetime(datetime(2001, 2, 3, tzinfo=UTC)))

    before = datetime.now(UTC)
    catcher.send(message)
    after = datetime.now(UTC)

    created = catcher.get("/api/v1/messages")["messages"][0]["Created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", created)
    assert before <= datetime.fromisoformat(created) <= after


def test_the_list_is_newest_first_fifty_a_page_unless_asked(catcher: Catcher) -> None:
    catcher.send_all(email(f"Order {number:02d}") for number in range(55))

    first = catcher.get("/api/v1/messages")

    assert (first["total"], first["messages_count"], first["count"], first["start"]) == (
        55,
        55,
        50,
        0,
    )
    assert [m["Subject"] for m in first["messages"]] == [f"Order {n:02d}" for n in range(54, 4, -1)]
    assert catcher.subjects(start=50) == [
        "Order 04",
        "Order 03",
        "Order 02",
        "Order 01",
        "Order 00",
    ]
    assert catcher.subjects(start=10, limit=3) == ["Order 44", "Order 43", "Order 42"]
    assert len(catcher.subjects(limit=0)) == 50  # not a positive number: Mailpit's default


def test_a_search_matches_words_and_filters_newest_first(catcher: Catcher) -> None:
    catcher.send_all(
        [
            email("Order SO-1 confirmed", to=["Ada Lovelace <ada@example.com>"], text="Total 12"),
            email("Invoice SO-2", sender="billing@example.com", to=["grace@example.com"]),
            email("Order SO-3 shipped", to=["grace@example.com"], text="It is on its way"),
        ]
    )

    assert catcher.found("ORDER") == ["Order SO-3 shipped", "Order SO-1 confirmed"]
    assert catcher.found("lovelace") == ["Order SO-1 confirmed"]  # a recipient's name
    assert catcher.found("billing") == ["Invoice SO-2"]  # the sender
    assert catcher.found("way") == ["Order SO-3 shipped"]  # the snippet
    assert catcher.found("order total") == ["Order SO-1 confirmed"]  # every word
    assert catcher.found('"so-1 confirmed"') == ["Order SO-1 confirmed"]
    assert catcher.found('"confirmed so-1"') == []
    assert catcher.found('subject:"Order SO-3"') == ["Order SO-3 shipped"]
    assert catcher.found("subject:so -shipped") == ["Invoice SO-2", "Order SO-1 confirmed"]
    assert catcher.found("to:GRACE@example.com") == ["Order SO-3 shipped", "Invoice SO-2"]
    assert catcher.found("from:shop@ !to:ada") == ["Order SO-3 shipped"]
    assert catcher.found("to:billing") == []  # the sender
    assert catcher.found("from:grace") == []  # a recipient


def test_a_search_is_paged_and_counts_every_match(catcher: Catcher) -> None:
    catcher.send_all(email(f"Report {number}") for number in range(7))
    catcher.send_all(email(f"Other {number}") for number in range(3))

    found = catcher.get("/api/v1/search", query="report", start=3, limit=3)

    assert [m["Subject"] for m in found["messages"]] == ["Report 3", "Report 2", "Report 1"]
    assert (found["total"], found["messages_count"], found["count"]) == (10, 7, 3)


def test_a_search_follows_what_arrives_and_what_is_deleted(catcher: Catcher) -> None:
    catcher.send_all([email("Order 1"), email("Order 2")])
    assert catcher.found("subject:order") == ["Order 2", "Order 1"]

    catcher.send(email("Order 3"))
    assert catcher.found("subject:order") == ["Order 3", "Order 2", "Order 1"]
    second = catcher.get("/api/v1/search", query="subject:order")["messages"][1]["ID"]
    httpx2.request("DELETE", f"{catcher.base}/api/v1/messages", json={"IDs": [second]})
    assert catcher.found("subject:order") == ["Order 3", "Order 1"]
    assert catcher.found("-subject:order") == []


def test_a_search_matches_within_one_message_never_across_two(catcher: Catcher) -> None:
    # The subjects one after the other read "...ab" then "cd...": "b c" is in neither.
    catcher.send_all([email("Tab"), email("Cd one"), email("Ab cd twice, ab cd")])
    assert catcher.found('subject:"b c"') == ["Ab cd twice, ab cd"]
    assert catcher.found("subject:bc") == []
    assert catcher.found("subject:ab") == ["Ab cd twice, ab cd", "Tab"]  # each message once


def test_a_search_it_cannot_answer_as_mailpit_would_is_a_400(catcher: Catcher) -> None:
    search = f"{catcher.base}/api/v1/search"

    assert httpx2.get(search, params={"query": " "}).status_code == 400
    refused = httpx2.get(search, params={"query": "order is:unread"})
    assert refused.status_code == 400
    assert "is:" in refused.text


def test_opening_a_message_marks_it_read_in_the_maildir(catcher: Catcher) -> None:
    catcher.send_all([email("First"), email("Second")])
    newest = catcher.get("/api/v1/messages")["messages"][0]

    catcher.get(f"/api/v1/message/{newest['ID']}")

    listed = catcher.get("/api/v1/messages")
    assert [m["Read"] for m in listed["messages"]] == [True, False]
    assert listed["unread"] == 1
    assert [path.name for path in (catcher.maildir / "cur").iterdir()] == [f"{newest['ID']}:2,S"]


def test_the_unread_counts_follow_reads_deletes_and_restarts(catcher: Catcher) -> None:
    catcher.send_all([email("Order 1"), email("Order 2"), email("Invoice 3")])

    def counts() -> tuple[int, int, int]:
        found = catcher.get("/api/v1/search", query="order")
        return catcher.get("/api/v1/messages")["unread"], found["unread"], found["messages_unread"]

    assert counts() == (3, 3, 2)
    order_2, order_1 = (m["ID"] for m in catcher.get("/api/v1/search", query="order")["messages"])
    catcher.get(f"/api/v1/message/{order_1}")
    catcher.get(f"/api/v1/message/{order_1}")  # read again: still one message read
    assert counts() == (2, 2, 1)
    httpx2.request("DELETE", f"{catcher.base}/api/v1/messages", json={"IDs": [order_2]})
    assert counts() == (1, 1, 0)
    catcher.restart()
    assert counts() == (1, 1, 0)


def test_messages_in_the_maildir_before_start_up_are_listed(stopped_catcher: Catcher) -> None:
    box = mailbox.Maildir(stopped_catcher.maildir, create=True)
    received = [datetime(2024, 5, 6, 7, 8, 9, 123456 + n, tzinfo=UTC) for n in range(3)]
    for number, when in enumerate(received):
        path = stopped_catcher.maildir / "new" / box.add(email(f"Old {number}").as_bytes())
        os.utime(path, (when.timestamp(), when.timestamp()))

    stopped_catcher.start()

    listed = stopped_catcher.get("/api/v1/messages")["messages"]
    assert [m["Subject"] for m in listed] == ["Old 2", "Old 1", "Old 0"]
    assert [m["Created"] for m in listed] == [when.isoformat() for when in reversed(received)]
    assert len(stopped_catcher.index_file.read_text().splitlines()) == 3


def test_a_restart_keeps_every_message_as_it_was(catcher: Catcher) -> None:
    catcher.send_all([email("First"), email("Second"), email("Third")])
    read = catcher.get("/api/v1/messages")["messages"][1]["ID"]
    catcher.get(f"/api/v1/message/{read}")
    before = catcher.get("/api/v1/messages")

    catcher.restart()

    # Created the same to the microsecond: read back from the index file, not
    # parsed again from a file whose mtime is a little later.
    assert catcher.get("/api/v1/messages") == before
    catcher.send(email("Fourth"))
    assert catcher.subjects() == ["Fourth", "Third", "Second", "First"]


def test_a_restart_trusts_the_maildir_over_the_index_file(catcher: Catcher) -> None:
    catcher.send_all([email("First"), email("Second"), email("Third")])
    first = catcher.get("/api/v1/messages")["messages"][2]["ID"]
    catcher.stop()
    # First's file deleted behind the catcher's back; Third stored but its
    # summary lost (a crash before it reached the index file).
    next((catcher.maildir / "new").glob(f"{first}*")).unlink()
    lines = catcher.index_file.read_text().splitlines()
    catcher.index_file.write_text("\n".join(lines[:-1]) + "\n")

    catcher.start()

    assert catcher.subjects() == ["Third", "Second"]
    kept = [json.loads(line)["Subject"] for line in catcher.index_file.read_text().splitlines()]
    assert sorted(kept) == ["Second", "Third"]


def test_a_line_cut_short_in_the_index_file_is_mended_at_start(catcher: Catcher) -> None:
    catcher.send(email("First"))
    catcher.stop()
    with catcher.index_file.open("a") as index:
        index.write('{"ID": "cut sh')  # a crash in the middle of an append

    catcher.start()
    catcher.send(email("Second"))

    kept = [json.loads(line)["Subject"] for line in catcher.index_file.read_text().splitlines()]
    assert kept == ["First", "Second"]


def test_delete_removes_the_ids_given_or_every_message(catcher: Catcher) -> None:
    catcher.send_all([email("First"), email("Second"), email("Third")])
    second = catcher.get("/api/v1/messages")["messages"][1]["ID"]
    delete = f"{catcher.base}/api/v1/messages"

    assert httpx2.request("DELETE", delete, json={"IDs": [second, "unknown"]}).text == "ok"
    assert catcher.subjects() == ["Third", "First"]
    assert len(list((catcher.maildir / "new").iterdir())) == 2

    httpx2.request("DELETE", delete, json={"IDs": []}).raise_for_status()  # none listed: all
    assert catcher.get("/api/v1/messages")["total"] == 0
    assert list((catcher.maildir / "new").iterdir()) == []
    catcher.send(email("Fourth"))
    httpx2.request("DELETE", delete).raise_for_status()  # no body: all
    assert catcher.get("/api/v1/messages")["total"] == 0
    catcher.restart()
    assert catcher.get("/api/v1/messages")["total"] == 0


def test_a_message_in_an_unknown_charset_is_listed_and_shown(catcher: Catcher) -> None:
    raw = (
        b"From: shop@example.com\r\nTo: ada@example.com\r\nSubject: Odd charset\r\n"
        b'Content-Type: text/plain; charset="x-no-such-charset"\r\n\r\nCaf\xc3\xa9 open\r\n'
    )
    with smtplib.SMTP("127.0.0.1", catcher.smtp_port, timeout=10) as smtp:
        smtp.sendmail("shop@example.com", ["ada@example.com"], raw)

    summary = catcher.get("/api/v1/messages")["messages"][0]
    assert summary["Snippet"] == "Café open"
    assert catcher.get(f"/api/v1/message/{summary['ID']}")["Text"].strip() == "Café open"
