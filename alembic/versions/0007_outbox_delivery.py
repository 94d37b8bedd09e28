"""Outbox delivery: composed HTML, a fixed Message-ID per message, threading, leases and the server's answer.

Revision ID: 0007
"""
import uuid

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MESSAGE_ID = 255


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("html", sa.Text()))
        batch.add_column(sa.Column("message_id", sa.String(MESSAGE_ID)))
        batch.add_column(sa.Column("in_reply_to", sa.String(MESSAGE_ID)))
        batch.add_column(sa.Column("claimed_by", sa.String(36)))
        batch.add_column(sa.Column("delivery_response", sa.Text()))
    _give_existing_rows_a_message_id()
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("message_id", existing_type=sa.String(MESSAGE_ID), nullable=False)
        batch.create_index("ix_outbox_message_id", ["message_id"], unique=True)
    # The 'sent' state is now called 'delivered', like the history event that records it.
    op.execute("UPDATE outbox SET state = 'delivered' WHERE state = 'sent'")


def _give_existing_rows_a_message_id() -> None:
    """Rows queued before this migration (never sent: nothing delivered them) get their Message-ID now."""
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM outbox WHERE message_id IS NULL"))]
    for message in ids:
        bind.execute(sa.text("UPDATE outbox SET message_id = :mid WHERE id = :id"),
                     {"mid": f"<{uuid.uuid4().hex}@localhost>", "id": message})


def downgrade() -> None:
    op.execute("UPDATE outbox SET state = 'sent' WHERE state = 'delivered'")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_message_id")
        for column in ("delivery_response", "claimed_by", "in_reply_to", "message_id", "html"):
            batch.drop_column(column)
