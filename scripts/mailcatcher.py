"""The native stack's mail catcher: an SMTP sink that keeps every message in a Maildir.

SMTP on 127.0.0.1:$SMTP_PORT (1025) stores each message in the Maildir
$VAR_DIR/mail as aiosmtpd's Mailbox handler does, and on 127.0.0.1:$MAIL_WEB_PORT
(8025) a small web page lists the messages, next to the part of Mailpit's HTTP
API that the tests use, so the same tests read mail from this catcher and from
the compose stack's Mailpit:

    GET    /api/v1/messages         newest first, `limit` (50) from `start` (0)
    GET    /api/v1/search?query=Q   the same, of the messages matching Q: words and
                                    "quoted phrases" (in the subject, sender, recipients
                                    or snippet), subject:, to:, from:, a leading - or !
                                    to exclude; Mailpit's other filters answer 400
    GET    /api/v1/message/<ID>     one message with its Text and HTML; it is read now
    DELETE /api/v1/messages         every message, or those whose IDs {"IDs": [...]} lists
    GET    /livez                   200 while the catcher runs

Each message is parsed once, when it arrives or at start-up, into Mailpit's
summary, kept in memory: no call reads the Maildir but the one message it
shows. Created is when the catcher received the message (UTC, microseconds), as
in Mailpit. The summaries are also appended to mailcatcher-index.jsonl in the
Maildir, so a restart reads them instead of parsing every message again. The
Maildir stays the truth: at start-up a summary whose file is gone is dropped,
and a file without a summary is parsed (its Created is then the file's mtime).
Read is the Maildir's S flag: a message once opened moves to cur/ with it. A
search looks for each term in one string of that text of every message
(`Haystack`, made by the first search after the box changed), not message by
message.
"""

from __future__ import annotations

import bisect
import html
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.policy import default as default_policy
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session

INDEX_FILE = "mailcatcher-index.jsonl"
PAGE_SIZE = 50  # Mailpit's default `limit`
SNIPPET_LENGTH = 200

Summary = dict[str, Any]


def ensure_maildir(path: Path) -> None:
    """Create the Maildir at `path` with its cur/new/tmp folders, those missing."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def received_now() -> str:
    """Now as Mailpit's Created: UTC, ISO 8601, always with six digits of microseconds."""
    # isoformat() alone drops the fraction when it is zero; a fixed width keeps
    # the strings in time order when sorted.
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --- one message --------------------------------------------------------------------


def _text(value: object) -> str:
    # A header's bytes that no charset decodes come back as lone surrogates,
    # which no page or JSON reader can show: they become "?".
    return str(value or "").encode("utf-8", "replace").decode("utf-8")


def _addresses(header: Any) -> list[dict[str, str]]:
    """An address header as Mailpit lists it: [] when the header is missing or empty."""
    found = header.addresses if header is not None else ()
    return [{"Name": _text(a.display_name), "Address": _text(a.addr_spec)} for a in found]


def body_text(message: Message, subtype: str) -> str:
    """The first text/`subtype` part of `message` that is no attachment, decoded; "" if none."""
    for part in message.walk():
        if part.get_content_type() != f"text/{subtype}":
            continue
        if part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        try:
            return data.decode(part.get_content_charset() or "utf-8", "replace")
        except LookupError:  # a charset Python does not know: the bytes, read as UTF-8
            return data.decode("utf-8", "replace")
    return ""


def parse(data: bytes) -> Message:
    """`data` as a message to walk: compat32 walks the parts many times faster than the
    default policy, which builds a header object each time a part's type is asked."""
    return message_from_bytes(data, policy=compat32)


def summary(key: str, data: bytes, created: str) -> Summary:
    """Message `key`, stored as `data` and received at `created`, as Mailpit's list entry.

    Read is not in it: that is the state of the file, which Index tracks.
    """
    # The top-level headers decoded by the default policy (encoded words, raw
    # UTF-8, address lists); the parts, which it is slow at, by parse().
    headers = BytesParser(policy=default_policy).parsebytes(data, headersonly=True)
    message = parse(data)
    senders = _addresses(headers["From"])
    return {
        "ID": key,
        "MessageID": _text(headers["Message-ID"]).strip().strip("<>"),
        "From": senders[0] if senders else {"Name": "", "Address": ""},
        "To": _addresses(headers["To"]),
        "Cc": _addresses(headers["Cc"]),
        "Bcc": _addresses(headers["Bcc"]),
        "ReplyTo": _addresses(headers["Reply-To"]),
        "Subject": _text(headers["Subject"]),
        "Created": created,
        # Mailpit's, always empty here: this SMTP server takes no login and sets no tags.
        "Username": "",
        "Tags": [],
        "Size": len(data),
        "Attachments": sum(p.get_content_disposition() == "attachment" for p in message.walk()),
        "Snippet": " ".join(body_text(message, "plain").split())[:SNIPPET_LENGTH],
    }


# --- search ---------------------------------------------------------------------------

_NOT_SEARCHED = re.compile(r'[\r\n\t<>",;()\ufeff]')


def searchable(text: str) -> str:
    """`text` as Mailpit compares it in a search: lower case, no <>",;() and single spaces."""
    return " ".join(_NOT_SEARCHED.sub(" ", text).lower().split())


def _address_text(addresses: Iterable[dict[str, str]]) -> str:
    return searchable(" ".join(f"{a['Name']} {a['Address']}" for a in addresses))


@dataclass(slots=True)
class Entry:
    """One message of the index: its summary, its file, and the texts searches look in."""

    summary: Summary
    path: Path
    read: bool
    subject: str = field(init=False)
    sender: str = field(init=False)
    recipients: str = field(init=False)
    text: str = field(init=False)

    def __post_init__(self) -> None:
        self.subject = self.summary["Subject"].lower()
        self.sender = _address_text([self.summary["From"]])
        self.recipients = _address_text(self.summary["To"])
        parts = (self.sender, self.summary["Subject"], self.recipients, self.summary["Snippet"])
        self.text = searchable(" ".join(parts))

    def listed(self) -> Summary:
        return {**self.summary, "Read": self.read}


def _order(entry: Entry) -> tuple[str, str]:
    # Created strings all have one width and one time zone: sorting them sorts by time.
    return entry.summary["Created"], entry.summary["ID"]


@dataclass(frozen=True)
class Term:
    """One term of a search: `needle` in the text the Entry attribute `attribute` holds, or not."""

    attribute: str
    needle: str
    exclude: bool


#: Between two entries' texts in a Haystack: no message's text holds it (Haystack.of).
_SEPARATOR = "\0"


@dataclass(frozen=True)
class Haystack:
    """One text of every entry, oldest first, in one string: a term is then looked for by
    str.find, a scan in C of the whole box (about 0.1 ms for 10k subjects), instead of
    a test per entry in Python (about 3 ms). Made again after each change to the box,
    by the next search (2 to 4 ms for 10k).
    """

    text: str
    starts: list[int]  # where each entry's text begins in `text`

    @classmethod
    def of(cls, texts: Iterable[str]) -> Haystack:
        kept = [text.replace(_SEPARATOR, " ") for text in texts]
        starts, at = [], 0
        for text in kept:
            starts.append(at)
            at += len(text) + len(_SEPARATOR)
        return cls(_SEPARATOR.join(kept), starts)

    def holding(self, needle: str) -> set[int]:
        """The positions of the entries whose text holds `needle`."""
        found: set[int] = set()
        if _SEPARATOR in needle:
            return found  # it would span two entries
        at = self.text.find(needle)
        while at != -1:
            position = bisect.bisect_right(self.starts, at) - 1
            found.add(position)
            # On from the next entry: one match is enough for this one.
            after = position + 1
            at = self.text.find(needle, self.starts[after]) if after < len(self.starts) else -1
        return found


class QueryError(ValueError):
    """A search this catcher cannot answer as Mailpit would."""


#: Each filter of Mailpit's and the Entry attribute it looks in; a plain word looks in `text`.
FILTERS: dict[str, str] = {"subject:": "subject", "to:": "recipients", "from:": "sender"}
# Searched as plain words they would match other messages than Mailpit's filters
# do, so a test would pass here and fail against Mailpit: they are refused.
UNSUPPORTED = (
    *("cc:", "bcc:", "reply-to:", "addressed:", "message-id:", "tag:"),
    *("is:", "has:", "after:", "before:", "larger:", "smaller:"),
)
# Words split at spaces outside double quotes, as Mailpit splits a search.
_WORD = re.compile(r'(?:"[^"]*"?|[^ "])+')
_ALPHANUMERIC = re.compile(r"[a-zA-Z0-9]")


def parse_query(query: str) -> list[Term]:
    """The terms of Mailpit search `query`, all of which a message must match.

    A word is looked for in the sender, subject, recipients and snippet; subject:,
    to: and from: look in one of them; a leading - or ! excludes the matches. Case
    is ignored. Raises QueryError for a filter of Mailpit's that is not implemented.
    """
    terms = []
    for quoted in _WORD.findall(query):
        word = quoted.replace('"', "").strip()
        exclude = len(word) > 1 and word[0] in "-!"
        word = word[1:] if exclude else word
        if not _ALPHANUMERIC.search(word):
            continue  # Mailpit skips a term with no letter or digit in it
        lowered = word.lower()
        if lowered.startswith(UNSUPPORTED):
            name = lowered.partition(":")[0]
            raise QueryError(f"the native mail catcher does not implement the filter {name}:")
        prefix = next((prefix for prefix in FILTERS if lowered.startswith(prefix)), None)
        if prefix is None:
            terms.append(Term("text", searchable(word), exclude))
            continue
        # Mailpit compares a subject as it is, an address as searchable() has it.
        value = lowered[len(prefix) :]
        needle = value if prefix == "subject:" else searchable(value)
        if needle:
            terms.append(Term(FILTERS[prefix], needle, exclude))
    return terms


# --- the index ------------------------------------------------------------------------


def _message_files(maildir: Path) -> dict[str, Path]:
    """Every message file in new/ and cur/ of `maildir`, by its key (the name before ':')."""
    files = {}
    for sub in ("new", "cur"):
        with os.scandir(maildir / sub) as found:
            for entry in found:
                if entry.is_file() and not entry.name.startswith("."):
                    files[entry.name.partition(":")[0]] = Path(entry.path)
    return files


def _is_read(path: Path) -> bool:
    """Whether the Maildir file at `path` has the S (seen) flag."""
    info = path.name.partition(":")[2]
    return info.startswith("2,") and "S" in info[2:]


def _read_path(path: Path) -> Path:
    """Where a Maildir keeps the file at `path` once its message is read: cur/, flag S added."""
    key, _, info = path.name.partition(":")
    flags = "".join(sorted(set(info.removeprefix("2,")) | {"S"}))
    return path.parent.parent / "cur" / f"{key}:2,{flags}"


def _file_summary(key: str, path: Path) -> Summary:
    """The summary of a message found in the Maildir: received, as far as is known, at its mtime."""
    created = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return summary(key, path.read_bytes(), created.isoformat(timespec="microseconds"))


def _read_index_file(path: Path) -> tuple[dict[str, Summary], int]:
    """The summaries in the index file at `path` by ID, and how many lines it has.

    A line that does not parse (a crash cut it short) is skipped: its message
    will be parsed again.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}, 0
    summaries = {}
    for line in lines:
        try:
            found = json.loads(line)
        except json.JSONDecodeError:
            continue
        summaries[found["ID"]] = found
    return summaries, len(lines)


class Index:
    """The summary of every message in the Maildir, for use from any thread.

    The SMTP handler adds to it and the web server reads it (their own threads,
    hence one lock around everything). Each summary added is appended to the
    index file in the Maildir too, for the next start to read back.
    """

    def __init__(self, maildir: Path, entries: Iterable[Entry]) -> None:
        self._file = maildir / INDEX_FILE
        self._lock = threading.Lock()
        self._entries = sorted(entries, key=_order)  # oldest first
        self._by_id = {entry.summary["ID"]: entry for entry in self._entries}
        self._unread = sum(not entry.read for entry in self._entries)  # kept, not counted per call
        self._haystacks: dict[str, Haystack] = {}  # by Entry attribute, made by the first search

    def _haystack(self, attribute: str) -> Haystack:
        if (haystack := self._haystacks.get(attribute)) is None:
            texts = [getattr(entry, attribute) for entry in self._entries]
            haystack = self._haystacks[attribute] = Haystack.of(texts)
        return haystack

    @classmethod
    def load(cls, maildir: Path) -> Index:
        """The index of what `maildir` holds, from its index file where that has the message.

        Messages the index file lacks are parsed; entries for files that are gone
        are dropped. If the index file did not match the Maildir it is rewritten.
        """
        files = _message_files(maildir)
        known, lines = _read_index_file(maildir / INDEX_FILE)
        entries = [
            Entry(known.get(key) or _file_summary(key, path), path, _is_read(path))
            for key, path in files.items()
        ]
        index = cls(maildir, entries)
        if lines != len(files) or known.keys() != files.keys():
            index._write_index_file()
        return index

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def add(self, summary: Summary, path: Path) -> None:
        """Add the message just stored, unread, at `path`, and append it to the index file."""
        entry = Entry(summary, path, read=False)
        with self._lock:
            bisect.insort(self._entries, entry, key=_order)
            self._haystacks.clear()
            self._by_id[summary["ID"]] = entry
            self._unread += 1
            with self._file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(summary) + "\n")

    def search(self, terms: list[Term], start: int, limit: int) -> dict[str, Any]:
        """Mailpit's answer to a search for `terms` (all messages if none): newest first,
        `limit` of the matches from `start`, and the counts of the box and of the matches."""
        with self._lock:
            matches = self._entries[::-1] if not terms else self._matching(terms)
            page = [entry.listed() for entry in matches[start : start + limit]]
            unread = sum(not entry.read for entry in matches) if terms else self._unread
            return {
                "total": len(self._entries),
                "unread": self._unread,
                "count": len(page),
                "messages_count": len(matches),
                "messages_unread": unread,
                "start": start,
                "tags": [],
                "messages": page,
            }

    def _matching(self, terms: list[Term]) -> list[Entry]:
        """The entries every term picks out, newest first."""
        chosen: set[int] | None = None
        excluded: set[int] = set()
        for term in terms:
            found = self._haystack(term.attribute).holding(term.needle)
            if term.exclude:
                excluded |= found
            else:
                chosen = found if chosen is None else chosen & found
        if chosen is None:  # only terms that exclude
            chosen = set(range(len(self._entries)))
        return [self._entries[position] for position in sorted(chosen - excluded, reverse=True)]

    def open(self, key: str) -> tuple[Summary, bytes] | None:
        """The summary and bytes of message `key`, which is read from now on; None if unknown.

        Mailpit marks a message read when the API returns it. The Maildir records
        that as mail readers do: the file moves to cur/ with the S flag.
        """
        with self._lock:
            entry = self._by_id.get(key)
            if entry is None:
                return None
            try:
                data = entry.path.read_bytes()
            except FileNotFoundError:  # deleted behind the catcher's back
                self._entries.remove(self._by_id.pop(key))
                self._haystacks.clear()
                self._unread -= not entry.read
                return None
            if not entry.read:
                self._unread -= 1
                read_path = _read_path(entry.path)
                entry.path.rename(read_path)
                entry.path, entry.read = read_path, True
            return entry.listed(), data

    def delete(self, ids: list[str] | None) -> None:
        """Delete the messages whose IDs are listed (unknown ones are skipped), or all if None."""
        with self._lock:
            keys = list(self._by_id) if ids is None else ids
            doomed = [entry for key in keys if (entry := self._by_id.pop(key, None)) is not None]
            for entry in doomed:
                entry.path.unlink(missing_ok=True)
            self._entries = [e for e in self._entries if e.summary["ID"] in self._by_id]
            self._haystacks.clear()
            self._unread = sum(not entry.read for entry in self._entries)
            # The index file keeps their summaries: the next start drops them, their files gone.

    def _write_index_file(self) -> None:
        # Written aside, then renamed over the old one: a crash leaves one or the other.
        partial = self._file.with_suffix(".partial")
        lines = "".join(json.dumps(entry.summary) + "\n" for entry in self._entries)
        partial.write_text(lines, encoding="utf-8")
        partial.replace(self._file)


class IndexingMailbox(Mailbox):
    """aiosmtpd's Mailbox handler that adds each message it stores to `index`.

    The file is the one Mailbox writes (with its X-Peer, X-MailFrom and X-RcptTo
    headers); the summary is in the index before the client is told 250, so
    whoever sent a message finds it listed as soon as the send returns.
    """

    def __init__(self, maildir: Path, index: Index) -> None:
        super().__init__(maildir)
        self.maildir = maildir
        self.index = index

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        # First thing: Created is when the message arrived, not its Date header.
        received = received_now()
        key = self.mailbox.add(self.prepare_message(session, envelope))
        path = self.maildir / "new" / key  # where Maildir.add files a new message
        self.index.add(summary(key, path.read_bytes(), received), path)
        return "250 OK"


# --- the web server -------------------------------------------------------------------


def _positive(params: dict[str, list[str]], name: str, default: int) -> int:
    try:
        value = int(params.get(name, [""])[0])
    except ValueError:
        return default
    return value if value > 0 else default


def paging(params: dict[str, list[str]]) -> tuple[int, int]:
    """`start` and `limit` as Mailpit reads them: positive integers, else 0 and 50."""
    return _positive(params, "start", 0), _positive(params, "limit", PAGE_SIZE)


def ids_to_delete(body: bytes) -> list[str] | None:
    """The IDs a DELETE body lists; None, meaning all, if it lists none (Mailpit's rule)."""
    try:
        ids = json.loads(body).get("IDs")
    except (ValueError, AttributeError):
        return None
    return [str(key) for key in ids] if isinstance(ids, list) and ids else None


class Handler(BaseHTTPRequestHandler):
    index: Index

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        params = parse_qs(url.query)
        if path == "/livez":
            self._send(HTTPStatus.OK, "text/plain", b"ok")
        elif path == "/api/v1/messages":
            self._json(self.index.search([], *paging(params)))
        elif path == "/api/v1/search":
            self._search(params)
        elif path.startswith("/api/v1/message/"):
            self._message(path.removeprefix("/api/v1/message/"), as_json=True)
        elif path.startswith("/message/"):
            self._message(path.removeprefix("/message/"), as_json=False)
        elif path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self._index(params).encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/api/v1/messages":
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")
            return
        length = int(self.headers.get("Content-Length") or 0)
        self.index.delete(ids_to_delete(self.rfile.read(length)))
        self._send(HTTPStatus.OK, "text/plain", b"ok")

    def _search(self, params: dict[str, list[str]]) -> None:
        query = params.get("query", [""])[0].strip()
        if not query:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"Error: no search query")
            return
        try:
            terms = parse_query(query)
        except QueryError as error:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain", str(error).encode())
            return
        self._json(self.index.search(terms, *paging(params)))

    def _message(self, key: str, *, as_json: bool) -> None:
        found = self.index.open(key)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no such message")
            return
        listed, data = found
        message = parse(data)
        full = {**listed, "Text": body_text(message, "plain"), "HTML": body_text(message, "html")}
        if as_json:
            self._json(full)
            return
        page = (
            f"<h1>{html.escape(full['Subject'])}</h1>"
            f"<p>From {html.escape(full['From']['Address'])} to "
            f"{html.escape(', '.join(to['Address'] for to in full['To']))}</p>"
            f"<h2>Text</h2><pre>{html.escape(full['Text'])}</pre>"
            f'<h2>HTML</h2><iframe sandbox title="HTML part" style="width:100%;height:30em" '
            f'srcdoc="{html.escape(full["HTML"])}"></iframe><p><a href="/">All messages</a></p>'
        )
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", _page(page).encode())

    def _index(self, params: dict[str, list[str]]) -> str:
        start, limit = paging(params)
        listed = self.index.search([], start, limit)
        rows = "".join(_row(message) for message in listed["messages"])
        shown = f"{start + 1}-{start + listed['count']}" if listed["count"] else "none"
        older = start + limit < listed["total"]
        link = f"<p><a href='/?start={start + limit}&amp;limit={limit}'>Older</a></p>"
        return _page(
            f"<h1>Mail catcher</h1><p>Newest first: {shown} of {listed['total']}</p>"
            "<table><thead><tr><th>Received</th><th>From</th><th>To</th>"
            f"<th>Subject</th></tr></thead><tbody>{rows}</tbody></table>" + (link if older else "")
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


def _row(message: Summary) -> str:
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
    ensure_maildir(maildir)
    # Loaded before SMTP starts, so every message received is added to a complete index.
    index = Index.load(maildir)

    handler = IndexingMailbox(maildir, index)
    handler.mailbox.clean()  # what a crash left in tmp/ over 36 hours ago (Maildir's rule)
    smtp = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    Handler.index = index
    web = ThreadingHTTPServer(("127.0.0.1", web_port), Handler)
    # SIGTERM (supervisord stopping it) ends serve_forever through SystemExit, then stops SMTP.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"mail catcher: SMTP 127.0.0.1:{smtp_port}, web http://127.0.0.1:{web_port}, "
        f"{maildir} with {len(index)} messages"
    )
    try:
        web.serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
