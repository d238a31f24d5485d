"""Fixtures: a real database (SQLite file, or REPORTS_TEST_DATABASE_URL), a private Redis, users.

The environment is set before `reports` is imported, because the app reads its
settings once, at import, exactly as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).resolve().parents[1]
_VAR_DIR = Path(tempfile.mkdtemp(prefix="reports-tests-"))
os.environ.update(
    VAR_DIR=str(_VAR_DIR),
    REPORTS_DATABASE_URL=os.environ.get("REPORTS_TEST_DATABASE_URL")
    or f"sqlite:///{_VAR_DIR / 'reports.sqlite3'}",
    REPORTS_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",  # noqa: S106
    # Nothing reaches a real broker until `private_broker` points Celery at the test Redis.
    CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    CELERY_RESULT_BACKEND_URL="redis://127.0.0.1:1/1",
)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from fastapi.routing import iter_route_contexts  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import delete, event, select, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from reports.celery_app import celery_app  # noqa: E402
from reports.db import SessionLocal, engine  # noqa: E402
from reports.main import create_app  # noqa: E402
from reports.models import (  # noqa: E402
    AuditEvent,
    Base,
    Period,
    Report,
    ReportPart,
    Sale,
    User,
)
from reports.sales import period_of  # noqa: E402
from reports.security import hash_password  # noqa: E402
from reports.seed import seed_sales  # noqa: E402

pytest_plugins = ["shared.testing"]

TODAY = dt.datetime.now(dt.UTC).date()
#: The sales the test database holds, spread over the three years up to today.
SALES = 2_000
PASSWORD = "correct horse battery"  # noqa: S105 - every test user's password
# Hashing is slow on purpose; every test user shares one hash.
PASSWORD_HASH = hash_password(PASSWORD)


def pytest_unconfigure() -> None:
    engine.dispose()
    shutil.rmtree(_VAR_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def database() -> None:
    """The schema, built by the real migrations, and a known set of sales."""
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    command.upgrade(Config(str(APP_DIR / "alembic.ini")), "head")
    with SessionLocal() as session:
        seed_sales(session, SALES, today=TODAY)


@pytest.fixture(autouse=True)
def _clean_tables() -> Iterator[None]:
    yield
    with SessionLocal.begin() as session:
        for model in (AuditEvent, ReportPart, Report, User):
            session.execute(delete(model))


@pytest.fixture(scope="session", autouse=True)
def private_broker(redis_url: str) -> dict[str, str]:
    """Point this process's Celery app at the private Redis; returns the same for a worker.

    Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    """
    env = {
        "CELERY_BROKER_URL": f"{redis_url}/0",
        "CELERY_RESULT_BACKEND_URL": f"{redis_url}/1",
    }
    os.environ.update(env)
    celery_app.conf.update(result_backend=env["CELERY_RESULT_BACKEND_URL"])
    return env


@pytest.fixture
def session() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


#: How long a test waits for an event stream to end by itself.
STREAM_TIMEOUT = 10


@pytest.fixture
def events_of(client: TestClient) -> Callable[[int], list[dict[str, Any]]]:
    """Reads a report's whole event stream, and fails the test if the server never ends it.

    A stream that is still open after STREAM_TIMEOUT seconds is ended by
    cancelling the report, so that a broken promise fails instead of hanging.
    """

    def read(report_id: int) -> list[dict[str, Any]]:
        lines: list[str] = []

        def follow() -> None:
            with client.stream("GET", f"/api/reports/{report_id}/events") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines.extend(response.iter_lines())

        reader = threading.Thread(target=follow)
        reader.start()
        reader.join(STREAM_TIMEOUT)
        if reader.is_alive():
            with SessionLocal.begin() as session:
                session.execute(
                    update(Report).where(Report.id == report_id).values(status="cancelled")
                )
            reader.join()
            pytest.fail(f"the event stream of report {report_id} never ended")
        data = [line.removeprefix("data: ") for line in lines if line.startswith("data:")]
        events = [line for line in lines if line.startswith("event:")]
        assert events == ["event: progress"] * len(data)
        return [json.loads(line) for line in data]

    return read


@pytest.fixture
def report_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route that names a report by id, API and pages alike.

    Read from the app itself, so a route added later is covered by every test
    that uses this fixture without anyone editing the test.
    """
    routes = [
        (method, route.path)
        for route in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
        if route.path is not None and "{report_id}" in route.path
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]
    assert len(routes) >= 6, routes  # read, events, download, cancel; the page and its cancel
    return routes


class Users:
    """Creates users and signs them in on a test client."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, username: str) -> User:
        user = User(username=username, password_hash=PASSWORD_HASH)
        self.session.add(user)
        self.session.commit()
        return user

    def log_in(self, client: TestClient, username: str) -> None:
        form = {"username": username, "password": PASSWORD}
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text


@pytest.fixture
def users(session: Session) -> Users:
    return Users(session)


@pytest.fixture
def alice(users: Users, client: TestClient) -> User:
    """A user, signed in on `client`."""
    user = users.create("alice")
    users.log_in(client, "alice")
    return user


@pytest.fixture
def bob(users: Users) -> User:
    """Another user, signed in nowhere."""
    return users.create("bob")


def _sum_rows_one_by_one(
    session: Session, date_from: dt.date, date_to: dt.date, period: Period
) -> list[tuple[str, str, int, int, Decimal]]:
    # What the build computed before it summed in the database: every row read,
    # and added up in Decimal. The slices and the file must come to exactly this.
    groups: dict[tuple[str, str], list[Any]] = {}
    rows = session.execute(
        select(Sale.sold_on, Sale.region, Sale.quantity, Sale.amount).where(
            Sale.sold_on.between(date_from, date_to)
        )
    )
    for sold_on, region, quantity, amount in rows:
        totals = groups.setdefault((period_of(sold_on, period), region), [0, 0, Decimal("0.00")])
        totals[0] += 1
        totals[1] += quantity
        totals[2] += amount
    return [(period_, region, *totals) for (period_, region), totals in sorted(groups.items())]


@pytest.fixture
def sum_rows_one_by_one() -> Callable[..., list[tuple[str, str, int, int, Decimal]]]:
    """The report's rows from the sales read one by one: what the grouped reads must match."""
    return _sum_rows_one_by_one


@pytest.fixture
def make_report(session: Session) -> Callable[..., Report]:
    """Save a report row for `owner` (last 90 days, monthly CSV summary unless overridden)."""

    def make(owner: User, **values: object) -> Report:
        defaults: dict[str, object] = {
            "report_type": "sales_summary",
            "format": "csv",
            "period": "month",
            "date_from": TODAY - dt.timedelta(days=90),
            "date_to": TODAY,
        }
        report = Report(owner_id=owner.id, **{**defaults, **values})
        session.add(report)
        session.commit()
        return report

    return make


@pytest.fixture
def durability_of_commits(session: Session) -> Iterator[list[str]]:
    """PostgreSQL's synchronous_commit as each commit of the test found it, in order.

    Skips on SQLite, which has no per-transaction setting.
    """
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    found: list[str] = []

    def note(committing: Session) -> None:
        query = text("SELECT current_setting('synchronous_commit')")
        found.append(str(committing.connection().scalar(query)))

    event.listen(Session, "before_commit", note)
    yield found
    event.remove(Session, "before_commit", note)
