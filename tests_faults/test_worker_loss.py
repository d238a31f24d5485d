"""A whole worker is lost mid-task: SIGKILL to its process group, the main process and
its pool at once, as the out-of-memory killer or a lost machine would do it.

Nothing tells the broker. The message stays unacknowledged in Redis until the
visibility timeout, then a live worker (the one supervisord restarted) takes it
and runs the task again. Every app's long task must then complete, exactly
once: one confirmation email, one archive, one report file; none left failed
by a reaper that gave up before the redelivery.

Each is caught in the middle by its own means: the confirmation waits for a
mail server that hangs; the export has enough posts to be seen half done; the
report, which sums a year of sales in a fraction of a second, is held at its
first write by a transaction of the test's.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from functools import partial
from pathlib import Path

import httpx2
import stack
from clients import Blogger, ReportsUser, Shopper, export_id, mail_count, order_number, query
from conftest import RECOVERY_SECONDS, frozen, restarted, stopped, wait_for
from stack import StackSettings

from shared.celery_app import visibility_timeout

WORKERS = ("shop-worker", "blog-worker", "reports-worker")

#: Enough posts that the export is still running when the test kills its worker.
POSTS = 60_000


@contextmanager
def many_posts(database: Path, author_id: int, count: int) -> Iterator[None]:
    """`count` posts by `author_id` in the blog's database, deleted afterwards."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    body = "A paragraph of a post, long enough to be compressed. " * 20
    rows = ((author_id, f"Post {n}", body, now) for n in range(count))
    with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        connection.executemany(
            "INSERT INTO post (author_id, title, body, created_at) VALUES (?, ?, ?, ?)", rows
        )
    try:
        yield
    finally:
        with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
            connection.execute("DELETE FROM post WHERE author_id = ?", (author_id,))


@contextmanager
def writes_held(database: Path) -> Iterator[None]:
    """Nobody else writes to `database` in the block (a write transaction of ours);
    in WAL mode everyone still reads. A writer waits up to its busy timeout.
    """
    with closing(sqlite3.connect(database, isolation_level=None)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.rollback()


def flower_state(config: StackSettings, task_id: str) -> str | None:
    """The state Flower has seen task `task_id` in, from the workers' events."""
    auth = config.flower_credentials()
    with httpx2.Client(base_url=config.flower_url, auth=auth, timeout=5) as flower:
        found = flower.get(f"/api/task/info/{task_id}")
    return str(found.json()["state"]) if found.status_code == 200 else None


def kill_group(name: str, var: Path) -> int:
    """SIGKILL the process group of service `name` (supervisord starts each in its own)."""
    pid = stack.service_pid(name, var)
    assert pid is not None, f"{name} is not running"
    assert os.getpgid(pid) == pid, f"{pid} does not lead its process group"
    os.killpg(pid, signal.SIGKILL)
    return pid


def test_a_worker_killed_mid_task_comes_back_and_each_task_completes_once(
    config: StackSettings,
    var: Path,
    shopper: Shopper,
    blogger: Blogger,
    reports_user: ReportsUser,
) -> None:
    blog_db, reports_db = var / "blog.sqlite3", var / "reports.sqlite3"
    killed: dict[str, int] = {}

    # The report: queued while its worker is stopped, then started while the
    # test holds the database's writes, so its run waits at its first write. The
    # writes are held before the worker starts: it may be ready, and done with so
    # small a report, before its start command returns.
    with ExitStack() as holding:
        with stopped("reports-worker", var):
            requested = reports_user.request_report()
            assert requested.status_code == 202, requested.text
            report = requested.json()["id"]
            holding.enter_context(writes_held(reports_db))
        [(task_id,)] = query(reports_db, "SELECT task_id FROM reports WHERE id = ?", report)
        started = lambda: flower_state(config, task_id) == "STARTED"  # noqa: E731
        wait_for("the report's task started", started, timeout=RECOVERY_SECONDS)
        killed["reports-worker"] = kill_group("reports-worker", var)

    # The confirmation: sent to a mail server that hangs. The export: half done.
    (author_id,) = query(blog_db, "SELECT id FROM user WHERE username = ?", blogger.username)[0]
    with many_posts(blog_db, author_id, POSTS), frozen("mail", var):
        email = f"lost-{secrets.token_hex(3)}@example.com"
        number = order_number(shopper.buy(shopper.products()[5], email=email))
        export = export_id(blogger.request_export())

        def half_done() -> bool:
            state = blogger.export(export)
            return bool(state["status"] == "running" and 0 < state["progress"] < 60)

        wait_for("the export half done", half_done, timeout=60)
        for name in ("blog-worker", "shop-worker"):
            killed[name] = kill_group(name, var)
        killed_at = time.monotonic()

    for name, pid in killed.items():
        wait_for(f"{name} back", restarted(name, pid, config, var), timeout=RECOVERY_SECONDS)
    assert blogger.export(export)["status"] == "running"
    assert reports_user.report(report)["status"] == "pending"

    # Redis hands each message to the restarted worker after the visibility timeout.
    redelivery = visibility_timeout(config) + 90
    wait_for(f"the email of {number}", partial(mail_count, config, number), timeout=redelivery)
    exported = lambda: blogger.export(export)["status"] != "running"  # noqa: E731
    wait_for("the export", exported, timeout=redelivery)
    built = lambda: reports_user.report(report)["status"] not in {"pending", "running"}  # noqa: E731
    wait_for("the report", built, timeout=redelivery)
    print(f"every task completed {time.monotonic() - killed_at:.0f} s after the kill")

    time.sleep(2)
    assert mail_count(config, number) == 1
    assert blogger.export(export)["status"] == "ready", blogger.export(export)
    assert reports_user.report(report)["status"] == "done", reports_user.report(report)
    # The export ran twice: the killed run and the redelivered one, which took it over.
    assert query(blog_db, "SELECT attempts FROM export WHERE id = ?", export) == [(2,)]
    # One archive and one report file, nothing partial left.
    exports_dir, files_dir = var / "blog" / "exports", var / "reports" / "files"
    assert [p.name for p in exports_dir.glob(f"*export-{export}-*")] == [
        query(blog_db, "SELECT file_name FROM export WHERE id = ?", export)[0][0]
    ]
    assert [p.name for p in files_dir.glob(f"*report-{report}[.-]*")] == [
        query(reports_db, "SELECT file_name FROM reports WHERE id = ?", report)[0][0]
    ]
