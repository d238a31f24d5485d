"""A pool process of the reports worker killed (SIGKILL) while it sums a part of a split report.

The worker itself lives on: it sees its child die, and because the part's task is
acks_late with reject_on_worker_lost, it hands the message back to Redis at once,
without waiting for the visibility timeout. That part runs again, from its first
slice; the parts that had finished are not run again; the report completes, with
one file, and its sums count every sale once.

To catch the part in the middle, its months get sales of their own (2001, long
before the demo data): enough that it sums for a while. Once it has started, the
test holds the database's writes, so the part waits at its next progress write,
long enough to be found (`celery inspect active`) and killed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from celery import Celery
from clients import ReportsUser, query
from conftest import wait_for
from stack import StackSettings
from test_worker_loss import writes_held

from shared.celery_app import visibility_timeout

#: The report: three years from 2001, cut into four parts of nine slices (279 days).
FIRST_DAY, LAST_DAY = dt.date(2001, 1, 1), dt.date(2003, 12, 31)
#: Its first part's sales: about half a second of summing on two idle cores.
SALES = 3_000_000
SALES_DAYS = 270  # 2001-01-01 to 2001-09-27, all inside the first part


@contextmanager
def sales_of_2001(database: Path) -> Iterator[None]:
    """SALES sales in the first SALES_DAYS days of 2001, in the reports' database, deleted after."""
    seed = """
        INSERT INTO sales (sold_on, region, product, quantity, amount)
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count)
        SELECT date('2001-01-01', '+' || (i * :days / :count) || ' days'),
               CASE i % 5 WHEN 0 THEN 'North' WHEN 1 THEN 'South' WHEN 2 THEN 'East'
                          WHEN 3 THEN 'West' ELSE 'Central' END,
               'Kettle', 1 + i % 3, (1 + i % 3) * 39.90
        FROM n
    """
    with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
        connection.execute(seed, {"count": SALES, "days": SALES_DAYS})
    try:
        yield
    finally:
        with closing(sqlite3.connect(database, timeout=30)) as connection, connection:
            connection.execute("DELETE FROM sales WHERE sold_on < '2002-01-01'")


def parts(database: Path, report: int) -> list[tuple[str, int, int]]:
    """(first day, days counted, runs) of each part of the report's build."""
    return query(
        database,
        "SELECT first_day, days_done, runs FROM report_parts WHERE report_id = ?"
        " ORDER BY first_day",
        report,
    )


def pool_process_running(config: StackSettings, first_day: str) -> int | None:
    """The pid of the pool process that runs the part starting on `first_day`, if any."""
    control = Celery(broker=config.celery_broker_url).control
    for tasks in (control.inspect(timeout=2).active() or {}).values():
        for task in tasks:
            if task["name"] == "reports.build_report_part" and first_day in task["args"]:
                return task["worker_pid"]
    return None


def test_a_pool_process_killed_mid_part_redoes_that_part_alone_at_once(
    config: StackSettings, var: Path, reports_user: ReportsUser
) -> None:
    reports_db, files_dir = var / "reports.sqlite3", var / "reports" / "files"
    with sales_of_2001(reports_db):
        requested = reports_user.request_report(FIRST_DAY, LAST_DAY)
        assert requested.status_code == 202, requested.text
        report = requested.json()["id"]

        def first() -> list[tuple[str, int, int]]:
            return parts(reports_db, report)[:1]

        wait_for("the first part started", lambda: first() and first()[0][2] == 1, timeout=60)
        with writes_held(reports_db):
            [(first_day, days, _)] = first()
            assert days < 279, "the first part finished before the test could hold it"
            pid = pool_process_running(config, first_day)
            assert pid is not None, "no pool process runs the first part"
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()

        built = lambda: reports_user.report(report)["status"] not in {"pending", "running"}  # noqa: E731
        # Far sooner than the visibility timeout, after which Redis would hand it out again.
        wait_for("the report", built, timeout=visibility_timeout(config) / 4)
        print(f"the report was done {time.monotonic() - killed_at:.1f} s after the kill")

    done = reports_user.report(report)
    assert done["status"] == "done", done
    assert done["source_rows"] == SALES  # each sale counted once, the redone part's included
    # The killed part ran twice, the others once: only it was done again.
    assert [runs for _, _, runs in parts(reports_db, report)] == [2, 1, 1, 1]
    [(file_name,)] = query(reports_db, "SELECT file_name FROM reports WHERE id = ?", report)
    assert [p.name for p in files_dir.glob(f"*report-{report}[.-]*")] == [file_name]
