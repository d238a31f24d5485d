"""The blog's tables: users, their posts, and the archives they export."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from blog.extensions import db
from shared.timeline import Kind


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite returns naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# db.Model is made by Flask-SQLAlchemy at run time, and Flask-Login ships no type
# information: to mypy both are Any, hence the ignores on the model classes.
class User(UserMixin, db.Model):  # type: ignore[name-defined, misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    posts: Mapped[list[Post]] = relationship(back_populates="author", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Post(db.Model):  # type: ignore[name-defined, misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, onupdate=utcnow)

    author: Mapped[User] = relationship(back_populates="posts")


class ExportStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"


ACTIVE = (ExportStatus.PENDING, ExportStatus.RUNNING)


class Export(db.Model):  # type: ignore[name-defined, misc]
    """One archive of a user's data, from the request to the file on disk."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # Stored as the lowercase values ('pending', ...) that the partial index below names.
    status: Mapped[ExportStatus] = mapped_column(
        db.Enum(
            ExportStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ExportStatus.PENDING,
    )
    progress: Mapped[int] = mapped_column(default=0)  # percent, 0..100
    file_name: Mapped[str | None] = mapped_column(String(255))
    # When the user asked (or asked again): how long it has been queued counts from here.
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When the latest run of the task started. The reaper measures the run from it,
    # and the run's every write names it, so a run that lost the export changes nothing.
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Deliveries of the task since the user asked; past a limit the export fails.
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    error: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()
    # Its task's timeline, oldest first. The session deletes them with their export,
    # and PostgreSQL does too (ON DELETE CASCADE); SQLite enforces no foreign keys,
    # so the reaper's bulk DELETE, which the session never sees, deletes them itself.
    events: Mapped[list[ExportEvent]] = relationship(
        back_populates="export",
        cascade="all, delete-orphan",
        order_by=lambda: [ExportEvent.at, ExportEvent.id],
    )

    # One export in progress per user, kept by the database even when two
    # requests race: the second insert fails and the view returns the first.
    __table_args__ = (
        Index(
            "uq_export_one_active_per_user",
            "user_id",
            unique=True,
            sqlite_where=db.text("status IN ('pending', 'running')"),
            postgresql_where=db.text("status IN ('pending', 'running')"),
        ),
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "progress": self.progress,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class ExportEvent(db.Model):  # type: ignore[name-defined, misc]
    """One event of the timeline of an export's task (blog/timeline.py writes them)."""

    __tablename__ = "export_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    export_id: Mapped[int] = mapped_column(ForeignKey("export.id", ondelete="CASCADE"))
    kind: Mapped[Kind] = mapped_column(
        db.Enum(Kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    task_id: Mapped[str] = mapped_column(String(64), default="")
    task_name: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")

    export: Mapped[Export] = relationship(back_populates="events")

    # The page reads an export's events in time order.
    __table_args__ = (Index("ix_export_event_export_id_at", "export_id", "at"),)

    @validates("task_id", "task_name", "detail")
    def _fit(self, key: str, value: str) -> str:
        """Cut a value to its column's length (an exception's message can be any length),
        and drop NUL, which PostgreSQL refuses in text."""
        length: int = self.__table__.c[key].type.length
        return value.replace("\x00", "")[:length]
