"""A whole worker is lost mid-task: SIGKILL to its process group, the main process and
its pool at once, as the out-of-memory killer or a lost machine would do it.

Nothing tells the broker. The message stays unacknowledged in Redis until the
visibility timeout, then a live worker (the one supervisord restarted) takes it
and runs the task again. Every app's long task must then complete, exactly
once: one confirmation email, one archive, one report file; none left failed
by a reaper that gave up before the redelivery.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path

import stack
from clients import Blogger, ReportsUser, Shopper, export_id, mail_count, order_number, query
from conftest import RECOVERY_SECONDS, frozen, restarted, wait_for

from shared.celery_app import visibility_timeout
from shared.settings import SharedSettings

WORKERS = ("shop-worker", "blog-worker", "reports-worker")

#: Enough work that each long task is still running when the test kills it.
POSTS = 60_000
SALES = 1_000_000
#: The reports are built over a year of their own, far from the demo data.
YEAR = 2001


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
def many_sales(database: Path, year: int, count: int) -> Iterator[None]:
    """`count` sales during `year` in the reports' database, deleted afterwards."""
    start, regions = dt.date(year, 1, 1), ("north", "south", "east", "west")
    pick = random.Random(year)  # noqa: S311 (test data, not a secret)
    rows = (
        (
            str(start + dt.timedelta(days=pick.randrange(365))),
            pick.choice(regions),
            "Faults",
            pick.randint(1, 5),
            pick.randint(100, 99_999) / 100,
        )
        for _ in range(count)
    )
    between = (f"{year}-01-01", f"{year}-12-31")
    with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        connection.executemany(
            "INSERT INTO sales (sold_on, region, product, quantity, amount) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    try:
        yield
    finally:
        with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
            connection.execute("DELETE FROM sales WHERE sold_on BETWEEN ? AND ?", between)


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads (supervisord starts each service in its own)."""
    assert os.getpgid(pid) == pid, f"{pid} does not lead its process group"
    os.killpg(pid, signal.SIGKILL)


def test_a_worker_killed_mid_task_comes_back_and_each_task_completes_once(
    config: SharedSettings,
    var: Path,
    shopper: Shopper,
    blogger: Blogger,
    reports_user: ReportsUser,
) -> None:
    blog_db, reports_db = var / "blog.sqlite3", var / "reports.sqlite3"
    (author_id,) = query(blog_db, "SELECT id FROM user WHERE username = ?", blogger.username)[0]
    with many_posts(blog_db, author_id, POSTS), many_sales(reports_db, YEAR, SALES):
        export = export_id(blogger.request_export())
        requested = reports_user.request_report(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
        assert requested.status_code == 202, requested.text
        report = requested.json()["id"]

        def both_mid_way() -> bool:
            archive, build = blogger.export(export), reports_user.report(report)
            return (archive["status"], build["status"]) == ("running", "running") and (
                0 < archive["progress"] < 90 and 0 < build["percent"] < 90
            )

        wait_for("the export and the report mid-way", both_mid_way, timeout=60)
        with frozen("mail", var):
            email = f"lost-{secrets.token_hex(3)}@example.com"
            number = order_number(shopper.buy(shopper.products()[5], email=email))
            time.sleep(2)  # the confirmation now waits for the mail server's greeting
            pids = {name: stack.service_pid(name, var) for name in WORKERS}
            for pid in pids.values():
                assert pid is not None
                kill_group(pid)
            killed_at = time.monotonic()
        for name, pid in pids.items():
            assert pid is not None
            wait_for(f"{name} back", restarted(name, pid, config, var), timeout=RECOVERY_SECONDS)
        assert blogger.export(export)["status"] == "running"
        assert reports_user.report(report)["status"] == "running"

        # Redis hands each message to the restarted worker after the visibility timeout.
        redelivery = visibility_timeout(config) + 90
        wait_for(f"the email of {number}", partial(mail_count, config, number), timeout=redelivery)
        ready = lambda: blogger.export(export)["status"] != "running"  # noqa: E731
        wait_for("the export", ready, timeout=redelivery)
        done = lambda: reports_user.report(report)["status"] != "running"  # noqa: E731
        wait_for("the report", done, timeout=redelivery)
        waited = time.monotonic() - killed_at

    time.sleep(2)
    assert mail_count(config, number) == 1
    assert blogger.export(export)["status"] == "ready", blogger.export(export)
    assert reports_user.report(report)["status"] == "done", reports_user.report(report)
    # Each was run twice: the killed run and the redelivered one.
    assert query(blog_db, "SELECT attempts FROM export WHERE id = ?", export) == [(2,)]
    assert query(reports_db, "SELECT attempts FROM reports WHERE id = ?", report) == [(2,)]
    # One archive and one report file, nothing partial left.
    exports_dir, files_dir = var / "blog" / "exports", var / "reports" / "files"
    assert [p.name for p in exports_dir.glob(f"*export-{export}-*")] == [
        query(blog_db, "SELECT file_name FROM export WHERE id = ?", export)[0][0]
    ]
    assert [p.name for p in files_dir.glob(f"*report-{report}[.-]*")] == [
        query(reports_db, "SELECT file_name FROM reports WHERE id = ?", report)[0][0]
    ]
    print(f"completed {waited:.0f} s after the kill")
