"""Tables: the users, the sales data, the reports and the parts of their builds, the audit log.

And the domain's types the tables and the worker use: a report's type, format,
period and status. The API's schemas (reports/schemas.py) build on them; the worker
never imports those.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.progress import Progress, percent
from shared.timeline import Kind


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))


class Sale(Base):
    """One order line of the demo data: what was sold, where, when, for how much."""

    __tablename__ = "sales"
    # Covers the report's grouped read (reports/sales.py, summarize_slice): a range
    # of sold_on, already in (sold_on, region) order, with every column it sums, so
    # the database reads the index alone and groups without sorting.
    __table_args__ = (
        Index("ix_sales_sold_on_region_quantity_amount", "sold_on", "region", "quantity", "amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sold_on: Mapped[dt.date] = mapped_column(Date)
    region: Mapped[str] = mapped_column(String(40))
    product: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[int]
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))


class ReportStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in {ReportStatus.DONE, ReportStatus.FAILED, ReportStatus.CANCELLED}


class ReportType(enum.StrEnum):
    SALES_SUMMARY = "sales_summary"
    SALES_CHART = "sales_chart"

    @property
    def label(self) -> str:
        return {"sales_summary": "Sales by period and region", "sales_chart": "Revenue chart"}[
            self.value
        ]


class ReportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    PNG = "png"


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: The formats each report type can be built in.
FORMATS: dict[ReportType, tuple[ReportFormat, ...]] = {
    ReportType.SALES_SUMMARY: (ReportFormat.CSV, ReportFormat.XLSX),
    ReportType.SALES_CHART: (ReportFormat.PNG,),
}


def _values(enum_class: type[enum.Enum]) -> list[str]:
    # Store the lowercase values ("done"), not the member names ("DONE").
    return [member.value for member in enum_class]


#: The largest id a row can have: the ids are INTEGER columns, 32-bit signed in
#: PostgreSQL (SQLite would take 64 bits). A larger number names no report, and the
#: database would refuse it as a parameter instead of answering "no such row".
MAX_ID = 2**31 - 1


class Report(Base):
    """A request for a report and, as the task builds it, its progress and result."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    report_type: Mapped[str] = mapped_column(String(40))
    format: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(10))
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[ReportStatus] = mapped_column(
        Enum(ReportStatus, native_enum=False, length=20, values_callable=_values),
        default=ReportStatus.PENDING,
    )
    # The id of the message that may build the report, set when it is queued (or
    # queued again): a run whose message is not this one changes nothing (reports/runs.py).
    task_id: Mapped[str | None] = mapped_column(String(50))
    # When the report was last queued, and when its build was last heard of: a run
    # started (the build, one of its parts, its merge) or a part summed a slice.
    # The reaper measures staleness from these (reports/reaper.py).
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Runs of its build_report message started since it was queued, and of the merge
    # of its parts; one that kills its worker each time stops at a limit.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    merge_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    progress_current: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    # Set when done: the file's name under settings.files_dir and what it holds.
    file_name: Mapped[str | None] = mapped_column(String(200))
    row_count: Mapped[int | None]
    source_rows: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def percent(self) -> int:
        if self.status == ReportStatus.DONE:
            return 100
        if self.progress_total <= 0:  # not started yet (percent() counts an empty total as done)
            return 0
        return percent(
            Progress(current=self.progress_current, total=self.progress_total, message=self.message)
        )


class ReportPart(Base):
    """One part of a split build: the days one `build_report_part` message sums.

    Written only by the run it belongs to (`task_id`, the build_report message
    that cut the report), and only while that run owns the report
    (reports/runs.py, `PartRun`). Its range identifies it within the run.
    """

    __tablename__ = "report_parts"
    __table_args__ = (
        UniqueConstraint("report_id", "task_id", "first_day", name="uq_report_parts_run_first_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(50))
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    # The days of the part counted in the report's progress: they only ever rise,
    # so a redelivered part that sums its first slices again does not count them twice.
    days_done: Mapped[int] = mapped_column(default=0)
    # Runs of the part started (its own retries included); past a limit, it is poison.
    runs: Mapped[int] = mapped_column(default=0)
    # Set once the build has sent the parts, after the publish: a redelivered build
    # that finds it set sends nothing (reports/tasks.py, `_send_parts`).
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: The longest detail a timeline event keeps.
EVENT_DETAIL_LENGTH = 500


class ReportEvent(Base):
    """One step in the life of a report's tasks: the timeline on its page.

    Written by reports/timeline.py from Celery's signals, each in a session of
    its own, so a build that rolls back keeps what happened before. Deleted with
    its report.
    """

    __tablename__ = "report_events"
    __table_args__ = (Index("ix_report_events_report_id_at", "report_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    kind: Mapped[Kind] = mapped_column(
        Enum(Kind, native_enum=False, length=16, values_callable=_values)
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    task_id: Mapped[str] = mapped_column(String(50), default="")
    task_name: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(String(EVENT_DETAIL_LENGTH), default="")


class AuditEvent(Base):
    """Who did what, written by a FastAPI BackgroundTask after the response was sent."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(50))
    report_id: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=func.now())
