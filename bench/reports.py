"""The reports' build against the database's own GROUP BY over the same sales; prints JSON.

    uv run --locked python -m bench.reports                     # SQLite, 100k and 1M sales
    uv run --locked python -m bench.reports --rows 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/reports_bench

For each size it fills a fresh database with the demo sales (reports/seed.py),
spread over three years: a temporary SQLite file, or the PostgreSQL database
named, whose name must contain "bench" because its tables are dropped first.
PostgreSQL is vacuumed after the load, as autovacuum would do: an index-only scan
needs the pages marked all-visible. Then, in a fresh process per size, with a
monthly report over all the sales, it times (best of --repeat, after one warm-up):

- `build`: what the task does to make the file: `date_slices`, `summarize_slice`
  for each slice, `Summary.add`, `write_report` (CSV);
- `group_by`: the database's own `SELECT <month>, region, count(*), sum(quantity),
  sum(amount) FROM sales WHERE sold_on BETWEEN … GROUP BY 1, 2`;
- `task`: `build_report` itself, called directly: the build plus its start, one
  conditional progress write per slice and the finish;

and reports the process's peak RSS (`ru_maxrss`) after all of it, next to its RSS
before the first build: what the build adds to a worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

# The app reads REPORTS_DATABASE_URL and VAR_DIR once, at import: `main` sets them
# before it starts the process that measures, so `SessionLocal` and the task's
# files are the bench's there (in `main`'s own process they are unused).
from reports.config import Settings
from reports.db import SessionLocal
from reports.models import Base, Report, User
from reports.sales import Summary, date_slices, summarize_slice
from reports.schemas import Period, ReportFormat
from reports.seed import DAYS, seed_sales
from reports.tasks import build_report
from reports.writers import write_report

#: The last day of the seeded sales; they cover DAYS days up to it.
TODAY = dt.date(2026, 6, 30)
FIRST_DAY = TODAY - dt.timedelta(days=DAYS - 1)
#: The month of a date, in each database's own words.
MONTH_OF = {"sqlite": "strftime('%Y-%m', sold_on)", "postgresql": "to_char(sold_on, 'YYYY-MM')"}


def engine_for(url: str) -> Engine:
    """An engine of its own for `url` (a plain postgresql:// URL uses psycopg 3, as in the app)."""
    return create_engine(Settings(reports_database_url=url).database_url)


def seed(url: str, rows: int) -> None:
    """Replace the tables at `url` with the schema and `rows` demo sales."""
    engine = engine_for(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed_sales(session, rows, today=TODAY)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE sales")
    engine.dispose()


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of `repeat` runs of `run`, in seconds, after one run to warm the caches."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def build(engine: Engine, path: Path) -> Summary:
    """The task's build of a monthly CSV over all the seeded sales, without its row writes."""
    summary = Summary(Period.MONTH)
    with Session(engine) as session:
        for first, last in date_slices(FIRST_DAY, TODAY):
            summary.add(summarize_slice(session, first, last))
    write_report(path, summary, ReportFormat.CSV)
    return summary


def group_by(engine: Engine) -> int:
    """The database's own GROUP BY of the same sales by month and region; returns the groups."""
    query = text(
        f"SELECT {MONTH_OF[engine.dialect.name]}, region, count(*), sum(quantity), sum(amount)"  # noqa: S608 - a constant
        " FROM sales WHERE sold_on BETWEEN :first AND :last GROUP BY 1, 2"
    )
    with engine.connect() as connection:
        params = {"first": FIRST_DAY.isoformat(), "last": TODAY.isoformat()}
        return len(connection.execute(query, params).all())


def run_the_task() -> None:
    """`build_report` for a new monthly CSV report over all the sales, called directly."""
    with SessionLocal() as session:
        # No one signs in: the user only owns the report.
        user = User(username=f"bench-{time.monotonic_ns()}", password_hash="-")  # noqa: S106
        session.add(user)
        session.flush()
        report = Report(
            owner_id=user.id,
            report_type="sales_summary",
            format="csv",
            period="month",
            date_from=FIRST_DAY,
            date_to=TODAY,
        )
        session.add(report)
        session.commit()
        report_id = report.id
    if (status := build_report(report_id)) != "done":
        raise RuntimeError(f"the report was not built: {status}")


def rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, repeat: int) -> dict[str, Any]:
    """Time the build, the GROUP BY and the task on the seeded database at `url`.

    Run in a process started once REPORTS_DATABASE_URL names `url` and VAR_DIR a
    directory for the files.
    """
    engine = engine_for(url)
    rss_before = rss_mib()
    path = Path(os.environ["VAR_DIR"]) / "report.csv"
    summary = build(engine, path)
    slice_times = []
    with Session(engine) as session:
        for first, last in date_slices(FIRST_DAY, TODAY):
            start = time.perf_counter()
            summarize_slice(session, first, last)
            slice_times.append(time.perf_counter() - start)
    build_s = best_of(repeat, lambda: build(engine, path))
    group_by_s = best_of(repeat, lambda: group_by(engine))
    task_s = best_of(repeat, run_the_task)
    return {
        "database": engine.dialect.name,
        "sales": summary.source_rows,
        "slices": len(slice_times),
        "groups": len(summary.groups),
        "build_s": round(build_s, 4),
        "group_by_s": round(group_by_s, 4),
        "build_over_group_by": round(build_s / group_by_s, 2),
        "task_s": round(task_s, 4),
        "first_slice_s": round(slice_times[0], 5),
        "last_slice_s": round(slice_times[-1], 5),
        "rss_before_mib": round(rss_before, 1),
        "rss_peak_mib": round(rss_mib(), 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Seed, measure each size in a fresh process, print the results as a JSON list."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="a PostgreSQL database to wipe (default: SQLite)")
    args = parser.parse_args(argv)
    if args.database_url and "bench" not in (make_url(args.database_url).database or ""):
        parser.error("the database's tables are dropped: its name must contain 'bench'")
    results = []
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as directory:
        for rows in args.rows:
            url = args.database_url or f"sqlite:///{directory}/sales-{rows}.sqlite3"
            seed(url, rows)
            os.environ.update(REPORTS_DATABASE_URL=url, VAR_DIR=f"{directory}/var-{rows}")
            # A fresh process per size, which reads the variables above at import:
            # its peak RSS is this size's alone.
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                results.append(pool.submit(measure, url, args.repeat).result())
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
