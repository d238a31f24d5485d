"""report parts: sent_at, when the build sent them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_parts") as batch_op:
        # Left empty for the parts recorded before: not known to have been sent, so a
        # build redelivered now sends them (again), as every build did until now.
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_parts") as batch_op:
        batch_op.drop_column("sent_at")
