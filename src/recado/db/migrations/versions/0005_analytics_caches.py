"""Analytics that stay fast with millions of messages, and cheaper campaign fan-outs:
partial indexes on the messages' sent, delivered and inbound times, scheduled ones and
carrier ids, on consents by time; settled daily totals; campaign report snapshots;
contacts' attributes as jsonb on PostgreSQL (segments read them a million at a time).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PARTIAL = (
    ("ix_messages_scheduled", ["status", "send_at"], "status = 'scheduled'"),
    (
        "ix_messages_carrier_ref",
        ["connector", "carrier_message_id"],
        "carrier_message_id IS NOT NULL",
    ),
    ("ix_messages_workspace_sent", ["workspace_id", "sent_at"], "sent_at IS NOT NULL"),
    (
        "ix_messages_workspace_delivered",
        ["workspace_id", "delivered_at"],
        "delivered_at IS NOT NULL",
    ),
    ("ix_messages_workspace_inbound", ["workspace_id", "created_at"], "direction = 'inbound'"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Segments read contacts' attributes: jsonb is parsed once, when written.
        op.execute(
            "ALTER TABLE contacts ALTER COLUMN attributes TYPE jsonb USING attributes::jsonb"
        )
    # Two indexes become partial: the rows a campaign's fan-out writes skip them.
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_index("ix_messages_carrier_ref", table_name="messages")
    for name, columns, where in _PARTIAL:
        op.create_index(
            name,
            "messages",
            columns,
            unique=False,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index(
        "ix_consents_workspace_created", "consents", ["workspace_id", "created_at"], unique=False
    )
    op.create_table(
        "daily_totals",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_daily_totals_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "day", name=op.f("pk_daily_totals")),
    )
    op.create_table(
        "campaign_report_snapshots",
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("took_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_report_snapshots_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaign_report_snapshots_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_report_snapshots")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts ALTER COLUMN attributes TYPE json USING attributes::json")
    op.drop_table("campaign_report_snapshots")
    op.drop_table("daily_totals")
    op.drop_index("ix_consents_workspace_created", table_name="consents")
    for name, _, _ in reversed(_PARTIAL):
        op.drop_index(name, table_name="messages")
    op.create_index("ix_messages_carrier_ref", "messages", ["connector", "carrier_message_id"])
    op.create_index("ix_messages_due", "messages", ["status", "send_at"])
