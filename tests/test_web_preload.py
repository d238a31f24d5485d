"""bin/web of the shop and the blog: gunicorn imports the app once, in its master
(`--preload`), and forks its workers from it; the master holds no connection that
its workers would then share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from shared.testing import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
#: Each app: its folder and the variable that moves its port off the stack's.
APPS = {"shop": ("django_shop", "SHOP_WEB_PORT"), "blog": ("flask_blog", "BLOG_WEB_PORT")}
#: A compiled module both apps import (pydantic's core, for their settings) and
#: gunicorn itself does not: mapped into the master only if it loaded the app.
APP_ONLY_LIBRARY = "_pydantic_core"


@contextmanager
def running_web(app: str, redis_url: str, var: Path) -> Iterator[tuple[str, int]]:
    """Start APP/bin/web with two workers on a free port; yields its URL and the master's pid."""
    folder, port_variable = APPS[app]
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "VAR_DIR": str(var),
        port_variable: str(port),
        "WEB_CONCURRENCY": "2",
        "CELERY_BROKER_URL": redis_url,
        "SHOP_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "BLOG_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
    }
    process = subprocess.Popen(
        [str(ROOT / folder / "bin" / "web")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx2.get(f"{url}/health", timeout=2).status_code in {200, 503}
        except httpx2.TransportError:
            return False

    try:
        wait_until(answers, timeout=60, interval=0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def established_tcp(pid: int) -> int:
    """How many established TCP connections process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            count += fields[3] == "01" and fields[9] in inodes  # 01: ESTABLISHED
    return count


@pytest.mark.parametrize("app", APPS)
def test_workers_fork_from_a_master_that_loaded_the_app_and_holds_no_connection(
    app: str, redis_url: str, tmp_path: Path
) -> None:
    with running_web(app, redis_url, tmp_path) as (url, master):
        with httpx2.Client(timeout=10) as client:
            for _ in range(20):  # /health asks the database and the broker, in each worker
                assert client.get(f"{url}/health").status_code == 200
        # The count sees a connection where there is one: this test's own, to the app.
        before = established_tcp(os.getpid())
        with socket.create_connection(("127.0.0.1", int(url.rpartition(":")[2]))):
            assert established_tcp(os.getpid()) == before + 1

        assert len(children(master)) == 2
        assert APP_ONLY_LIBRARY in Path(f"/proc/{master}/maps").read_text()
        assert established_tcp(master) == 0
