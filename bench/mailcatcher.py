"""How fast the native mail catcher starts and answers with a full box.

Starts scripts/mailcatcher.py on free ports over an empty temporary VAR_DIR
(what the process itself costs), writes MESSAGES messages into its Maildir and
starts it twice more: cold (no index file, so it parses every message) and warm
(it reads the index file the cold start wrote). Against
the warm one it times CALLS calls each of the message list (Mailpit's default
limit), a search for one subject, one message, and an SMTP send (one connection
each, as the apps send). Prints one JSON object; every time is in milliseconds,
a start-up from launching the process until /livez answers.

    uv run --locked python bench/mailcatcher.py [--messages 10000] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from bench.figures import Figure
from blog.mail import build_message, deliver
from shared.settings import SharedSettings

ROOT = Path(__file__).resolve().parents[1]
CATCHER = ROOT / "scripts" / "mailcatcher.py"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Catcher:
    base_url: str
    smtp_port: int
    startup_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def subject(number: int) -> str:
    """Message `number`'s subject; fixed width, so a subject: search finds exactly one."""
    return f"Bench message {number:06d}"


def fill(maildir: Path, count: int) -> None:
    """`count` messages in a new Maildir at `maildir`, written as the catcher would store them."""
    box = mailbox.Maildir(maildir, create=True)
    for number in range(count):
        message = build_message(
            sender="shop@example.com",
            to=[f"customer-{number}@example.com"],
            subject=subject(number),
            text=f"Thank you for order {number}. Total: {number % 500}.00 EUR.",
            html=f"<p>Thank you for order <b>{number}</b>.</p>",
        )
        box.add(message.as_bytes())


@contextmanager
def running(var_dir: Path) -> Iterator[Catcher]:
    """The catcher on free ports over `var_dir`, from start until it answers /livez, to the end."""
    smtp_port, web_port = free_port(), free_port()
    env = {**os.environ, "VAR_DIR": str(var_dir), "SMTP_PORT": str(smtp_port)}
    env["MAIL_WEB_PORT"] = str(web_port)
    base_url = f"http://127.0.0.1:{web_port}"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(CATCHER)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _live(base_url):
            if process.poll() is not None:
                raise RuntimeError(f"the catcher exited with {process.returncode}")
            if time.perf_counter() - started > START_TIMEOUT:
                raise RuntimeError(f"the catcher did not answer within {START_TIMEOUT} s")
            time.sleep(0.005)
        yield Catcher(base_url, smtp_port, (time.perf_counter() - started) * 1000)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _live(base_url: str) -> bool:
    try:
        return httpx2.get(f"{base_url}/livez", timeout=1).status_code == 200
    except httpx2.TransportError:
        return False


def timed(call: Callable[[], object], times: int) -> dict[str, float]:
    """The median and 95th percentile, in ms, of `times` runs of `call`."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2)}


def measure(messages: int, calls: int) -> dict[str, Any]:
    """Start-up times and API latencies of a catcher holding `messages` messages."""
    with tempfile.TemporaryDirectory(prefix="mailcatcher-bench-") as temporary:
        var_dir = Path(temporary)
        with running(var_dir) as empty:
            pass
        fill(var_dir / "mail", messages)
        with running(var_dir) as cold:
            pass
        with running(var_dir) as warm, httpx2.Client(base_url=warm.base_url, timeout=10) as client:
            listed = client.get("/api/v1/messages").raise_for_status().json()
            if listed["total"] != messages:
                raise RuntimeError(f"the catcher lists {listed['total']} of {messages} messages")
            one = listed["messages"][0]["ID"]
            query = {"query": f'subject:"{subject(messages // 2)}"'}
            settings = SharedSettings(smtp_port=warm.smtp_port)
            sent = build_message(
                sender="shop@example.com", to=["a@example.com"], subject="Sent", text="x"
            )
            return {
                "messages": messages,
                "calls": calls,
                "startup_ms": {
                    "empty": round(empty.startup_ms, 1),
                    "cold": round(cold.startup_ms, 1),
                    "warm": round(warm.startup_ms, 1),
                },
                "list": timed(lambda: client.get("/api/v1/messages").raise_for_status(), calls),
                "search": timed(
                    lambda: client.get("/api/v1/search", params=query).raise_for_status(), calls
                ),
                "message": timed(
                    lambda: client.get(f"/api/v1/message/{one}").raise_for_status(), calls
                ),
                "smtp_send": timed(lambda: deliver(sent, settings), calls),
            }


def figures() -> list[Figure]:
    """The figures `make bench` tabulates: each API call with 10,000 messages in the box."""
    measured = measure(10_000, 200)
    basis = "p95 of 200 calls, 10,000 messages in the box"
    calls = {
        "list": "GET /api/v1/messages (the first page)",
        "search": "GET /api/v1/search?query=subject:... (one match)",
        "message": "GET /api/v1/message/ID",
    }
    found = [
        Figure(f"mail catcher: {call}, p95", measured[key]["p95_ms"], "ms", 20, basis)
        for key, call in calls.items()
    ]
    startup = measured["startup_ms"]
    found.append(
        Figure(
            "mail catcher: start-up with 10,000 messages and its index file",
            startup["warm"],
            "ms",
            comparison=f"{startup['empty']:.0f} ms empty, {startup['cold']:.0f} ms with no index",
        )
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    arguments = parser.parse_args()
    print(json.dumps(measure(arguments.messages, arguments.calls)))


if __name__ == "__main__":
    main()
