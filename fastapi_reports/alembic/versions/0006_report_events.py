"""report events: the timeline of each report's tasks

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(
            "committed", "published", "received", "started", "progress", "retried",
            "succeeded", "failed", name="kind", native_enum=False, length=16,
        ), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.String(length=50), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_events_report_id_at", "report_events", ["report_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_report_events_report_id_at", table_name="report_events")
    op.drop_table("report_events")
