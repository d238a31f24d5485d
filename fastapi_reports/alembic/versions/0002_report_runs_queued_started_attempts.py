"""report runs: queued_at, started_at, attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
        )
    # Reports from before: queued when created; a running one counts as started then,
    # so the reaper can judge it like any other.
    op.execute("UPDATE reports SET queued_at = created_at")
    op.execute("UPDATE reports SET started_at = created_at WHERE status = 'running'")
    with op.batch_alter_table("reports") as batch_op:
        batch_op.alter_column("queued_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("started_at")
        batch_op.drop_column("queued_at")
