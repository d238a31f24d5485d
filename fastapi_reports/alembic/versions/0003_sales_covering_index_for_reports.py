"""sales: an index covering the report's grouped read, in place of (sold_on, id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every query of a sold_on range is served by the new index, which leads with
    # sold_on too; the old one only served the keyset pages the build no longer reads.
    op.create_index(
        "ix_sales_sold_on_region_quantity_amount",
        "sales",
        ["sold_on", "region", "quantity", "amount"],
    )
    op.drop_index("ix_sales_sold_on_id", table_name="sales")


def downgrade() -> None:
    op.create_index("ix_sales_sold_on_id", "sales", ["sold_on", "id"])
    op.drop_index("ix_sales_sold_on_region_quantity_amount", table_name="sales")
