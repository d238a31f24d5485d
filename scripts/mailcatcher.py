"""The native stack's mail catcher: an SMTP sink that keeps every message in a Maildir.

SMTP on 127.0.0.1:1025 (aiosmtpd's Mailbox handler writing var/mail), and on
127.0.0.1:8025 a small web page listing the messages plus the two read-only
calls of Mailpit's HTTP API that the browser tests use, so the same tests read
mail from this catcher and from the compose stack's Mailpit:

    GET /api/v1/messages          newest first: ID, From, To, Subject, Created, Snippet
    GET /api/v1/message/<ID>      the same plus Text and HTML
    GET /livez                    200 while the catcher runs
"""

from __future__ import annotations

import html
import json
import mailbox
import os
import signal
import sys
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def open_maildir(path: Path) -> mailbox.Maildir:
    """The Maildir at `path`, created with its cur/new/tmp folders when missing."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(path, factory=None, create=False)


def _address(name_and_address: tuple[str, str]) -> dict[str, str]:
    return {"Name": name_and_address[0], "Address": name_and_address[1]}


def _parse(raw: mailbox.MaildirMessage) -> EmailMessage:
    message = message_from_bytes(raw.as_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""


def summary(key: str, raw: mailbox.MaildirMessage) -> dict[str, Any]:
    """One message as Mailpit's message-list entry."""
    message = _parse(raw)
    try:
        created = parsedate_to_datetime(message["Date"]).isoformat()
    except (TypeError, ValueError):
        created = datetime.fromtimestamp(raw.get_date(), tz=UTC).isoformat()
    text = _body(message, "plain")
    return {
        "ID": key,
        "MessageID": str(message["Message-ID"] or "").strip("<>"),
        "From": _address(parseaddr(str(message["From"] or ""))),
        "To": [_address(a) for a in getaddresses([str(message["To"] or "")])],
        "Subject": str(message["Subject"] or ""),
        "Created": created,
        "Snippet": " ".join(text.split())[:200],
    }


def detail(key: str, raw: mailbox.MaildirMessage) -> dict[str, Any]:
    """One message as Mailpit's message view: the summary plus its text and HTML parts."""
    message = _parse(raw)
    return {**summary(key, raw), "Text": _body(message, "plain"), "HTML": _body(message, "html")}


def newest_first(box: mailbox.Maildir) -> list[dict[str, Any]]:
    box.clean()
    items = [summary(key, raw) for key, raw in box.iteritems()]
    return sorted(items, key=lambda item: item["Created"], reverse=True)


class Handler(BaseHTTPRequestHandler):
    box: mailbox.Maildir

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/livez":
            self._send(HTTPStatus.OK, "text/plain", b"ok")
        elif path == "/api/v1/messages":
            messages = newest_first(self.box)
            self._json({"total": len(messages), "count": len(messages), "messages": messages})
        elif path.startswith("/api/v1/message/"):
            self._message(path.removeprefix("/api/v1/message/"), as_json=True)
        elif path.startswith("/message/"):
            self._message(path.removeprefix("/message/"), as_json=False)
        elif path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self._index().encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")

    def _message(self, key: str, *, as_json: bool) -> None:
        try:
            found = detail(key, self.box[key])
        except KeyError:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no such message")
            return
        if as_json:
            self._json(found)
            return
        page = (
            f"<h1>{html.escape(found['Subject'])}</h1>"
            f"<p>From {html.escape(found['From']['Address'])} to "
            f"{html.escape(', '.join(to['Address'] for to in found['To']))}</p>"
            f"<h2>Text</h2><pre>{html.escape(found['Text'])}</pre>"
            f'<h2>HTML</h2><iframe sandbox title="HTML part" style="width:100%;height:30em" '
            f'srcdoc="{html.escape(found["HTML"])}"></iframe><p><a href="/">All messages</a></p>'
        )
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", _page(page).encode())

    def _index(self) -> str:
        rows = "".join(_row(message) for message in newest_first(self.box))
        return _page(
            "<h1>Mail catcher</h1><table><thead><tr><th>Received</th><th>From</th><th>To</th>"
            f"<th>Subject</th></tr></thead><tbody>{rows}</tbody></table>"
        )

    def _json(self, body: dict[str, Any]) -> None:
        self._send(HTTPStatus.OK, "application/json", json.dumps(body).encode())

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"mail web: {format % args}\n")


def _row(message: dict[str, Any]) -> str:
    cells = [
        html.escape(message["Created"]),
        html.escape(message["From"]["Address"]),
        html.escape(", ".join(to["Address"] for to in message["To"])),
        f"<a href='/message/{html.escape(message['ID'])}'>{html.escape(message['Subject'])}</a>",
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _page(body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Mail catcher</title>"
        "<style>body{font:15px system-ui,sans-serif;margin:2em}td,th{padding:.3em .8em;"
        "text-align:left;border-bottom:1px solid #ddd}</style></head>"
        f"<body>{body}</body></html>"
    )


def main() -> None:
    maildir = Path(os.environ.get("VAR_DIR", "var")) / "mail"
    smtp_port = int(os.environ.get("SMTP_PORT", "1025"))
    web_port = int(os.environ.get("MAIL_WEB_PORT", "8025"))
    box = open_maildir(maildir)

    smtp = Controller(Mailbox(maildir), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    Handler.box = box
    web = ThreadingHTTPServer(("127.0.0.1", web_port), Handler)
    # SIGTERM (supervisord stopping it) ends serve_forever through SystemExit, then stops SMTP.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"mail catcher: SMTP 127.0.0.1:{smtp_port}, web http://127.0.0.1:{web_port}, {maildir}")
    try:
        web.serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
