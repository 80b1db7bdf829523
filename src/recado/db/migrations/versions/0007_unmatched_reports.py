"""Delivery reports that matched no message are kept (the newest of each connection), so an
operator can see which ids a carrier sent and compare them with the connection's id formats.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unmatched_reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(length=32), nullable=True),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_unmatched_reports_connector", "unmatched_reports", ["connector", "id"])


def downgrade() -> None:
    op.drop_index("ix_unmatched_reports_connector", table_name="unmatched_reports")
    op.drop_table("unmatched_reports")
