"""export started_at and attempts

Revision ID: d8dbfc58b429
Revises: 27b2b602f019
Create Date: 2026-11-23 19:11:48.209643

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8dbfc58b429'
down_revision = '27b2b602f019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))
        # The server default fills the rows that exist already.
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))

    # The reaper measures a running export from started_at: give the ones running
    # now their best known start, or it would never see them.
    op.execute("UPDATE export SET started_at = created_at WHERE status = 'running'")


def downgrade():
    with op.batch_alter_table('export', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('started_at')
