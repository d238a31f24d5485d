"""export events: the timeline of each export's task

Revision ID: 76eb3e71cf2e
Revises: d8dbfc58b429
Create Date: 2026-12-02 19:14:57.349170
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '76eb3e71cf2e'
down_revision: str | None = 'd8dbfc58b429'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('export_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('export_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('committed', 'published', 'received', 'started', 'progress', 'retried', 'succeeded', 'failed', name='kind', native_enum=False, length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('task_name', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['export_id'], ['export.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('export_event', schema=None) as batch_op:
        batch_op.create_index('ix_export_event_export_id_at', ['export_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('export_event', schema=None) as batch_op:
        batch_op.drop_index('ix_export_event_export_id_at')

    op.drop_table('export_event')
