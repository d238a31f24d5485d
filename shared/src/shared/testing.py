"""Pytest fixtures for tests that need the real thing: a Redis, a Celery worker, an SMTP sink.

Load them with `pytest_plugins = ["shared.testing"]` in an app's conftest.py.
Nothing here mocks Celery: `redis_url` starts a private redis-server, and
`start_worker` runs `celery worker` as a separate process against it, so an
integration test exercises the same path as production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    """`redis-server` from the PATH (Debian's redis-server package; `make` installs it)."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail(
            "redis-server is not installed: `make unit` installs it when run as root "
            "(apt-get install redis-server); else run `sudo apt-get install redis-server`"
        )
    return found


def wait_until(predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {predicate!r}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private, throwaway Redis for the test session."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    command = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_until(answers, timeout=10)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def start_worker(
    app: str,
    *,
    queue: str,
    cwd: Path,
    env: dict[str, str],
    log: Path | None = None,
    timeout: float = 30,
    concurrency: int = 1,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a real `celery -A app worker` consuming `queue`, until the block ends.

    Waits until the worker answers a ping, and fails with the worker's log if it
    never does. The log goes to `log` when given (a test may read it), else to a
    temporary file removed at the end. One process by default (the solo pool);
    `concurrency` > 1 runs that many prefork processes, as production does.
    """
    node = f"{queue}-test-{os.getpid()}@%h"
    command = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue, "-n", node]
    pool = ["--pool", "solo"] if concurrency == 1 else ["--concurrency", str(concurrency)]
    command += [*pool, "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    keep_log = log is not None
    log = log or Path(tempfile.mkstemp(prefix="worker-", suffix=".log")[1])
    full_env = {**os.environ, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=out, stderr=out)
    ping = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "inspect",
        "ping",
        "-d",
        node.replace("%h", socket.gethostname()),
        "-t",
        "1",
    ]

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{log.read_text()}")
        result = subprocess.run(ping, cwd=cwd, env=full_env, capture_output=True, check=False)
        return result.returncode == 0

    try:
        wait_until(ready, timeout=timeout, interval=0.5)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if not keep_log:
            log.unlink(missing_ok=True)


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """The URL of a TCP server that accepts every connection and never answers a byte:
    a Redis that is paused, failing over, or on a host gone without a reset.
    """
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


@dataclass
class SmtpSink:
    """An SMTP server on loopback that keeps every message it receives."""

    port: int
    messages: list[Message] = field(default_factory=list)
    #: Seconds the server waits before it accepts a message: a slow mail server.
    delay: float = 0.0
    #: How many messages, from now, the server turns away with a temporary error
    #: (451) before it accepts again: a mail server that is briefly unwell.
    refuse: int = 0

    def wait_for(self, predicate: Callable[[Message], bool], *, timeout: float = 15) -> Message:
        """The first message that satisfies `predicate`, waiting for it to arrive."""
        return wait_until(
            lambda: next((m for m in self.messages if predicate(m)), None), timeout=timeout
        )


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            await asyncio.sleep(sink.delay)
            if sink.refuse > 0:
                sink.refuse -= 1
                return "451 4.3.0 Try again later"
            sink.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
