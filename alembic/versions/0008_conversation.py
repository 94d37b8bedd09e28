"""The ticket's conversation: customers' messages (portal and email), agents' replies and notes, attachments.

Revision ID: 0008
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MESSAGE_ID = 255


def upgrade() -> None:
    op.create_table(
        "conversation_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id")),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("author", sa.String(limits.PERSON_NAME), nullable=False),
        sa.Column("author_kind", sa.String(20), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(limits.MESSAGE_SUBJECT)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("shown", sa.Text, nullable=False),
        sa.Column("message_id", sa.String(MESSAGE_ID)),
        sa.Column("from_address", sa.String(limits.CONTACT_DETAIL)),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id")),
        sa.Column("customer_replied", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("from_other_address", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("auto_reply", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("after_close", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_conversation_entry_ticket_at", "conversation_entry", ["ticket_id", "at"])
    # The de-duplication key of email intake: the same message piped twice is refused by the database itself.
    op.create_index("ix_conversation_entry_message_id", "conversation_entry", ["message_id"], unique=True)
    op.create_table(
        "conversation_attachment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("conversation_entry.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_conversation_attachment_entry_id", "conversation_attachment", ["entry_id"])


def downgrade() -> None:
    op.drop_index("ix_conversation_attachment_entry_id", "conversation_attachment")
    op.drop_table("conversation_attachment")
    op.drop_index("ix_conversation_entry_message_id", "conversation_entry")
    op.drop_index("ix_conversation_entry_ticket_at", "conversation_entry")
    op.drop_table("conversation_entry")
