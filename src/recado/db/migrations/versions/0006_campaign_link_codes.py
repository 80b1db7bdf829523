"""A campaign message carries its tracked link's code and target itself: a campaign of a
million recipients no longer writes a million link rows. Clicks keep the URL they went to
and are found by message, so they no longer need a link row to point at.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_code", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("link_url", sa.Text(), nullable=True))
    op.create_index(
        "ix_messages_link_code",
        "messages",
        ["link_code"],
        unique=True,
        sqlite_where=sa.text("link_code IS NOT NULL"),
        postgresql_where=sa.text("link_code IS NOT NULL"),
    )
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch_op.drop_constraint("fk_clicks_link_code_links", type_="foreignkey")
        batch_op.create_index("ix_clicks_message", ["message_id"], unique=False)
    op.execute(
        "UPDATE clicks SET url = (SELECT url FROM links WHERE links.code = clicks.link_code)"
    )


def downgrade() -> None:
    # Clicks on codes that have no link row cannot point at one again.
    op.execute("DELETE FROM clicks WHERE link_code NOT IN (SELECT code FROM links)")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_message")
        batch_op.create_foreign_key(
            "fk_clicks_link_code_links", "links", ["link_code"], ["code"], ondelete="CASCADE"
        )
        batch_op.drop_column("url")
    op.drop_index("ix_messages_link_code", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("link_url")
        batch_op.drop_column("link_code")
