"""Webhook channels: their signing secrets and the deliveries that opened tickets (Standard Webhooks).

Revision ID: 0009
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_channel",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(limits.CHANNEL_NAME), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(limits.PERSON_NAME), nullable=False),
    )
    op.create_table(
        "webhook_secret",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel_id", sa.Integer, sa.ForeignKey("webhook_channel.id"), nullable=False, index=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(limits.CHANNEL_NAME), nullable=False),
        sa.Column("webhook_id", sa.String(limits.WEBHOOK_ID), nullable=False),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        # The idempotency key: a second copy of a delivery is refused by the database itself.
        sa.UniqueConstraint("channel", "webhook_id", name="uq_webhook_delivery_channel_webhook_id"),
    )


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_index("ix_webhook_secret_channel_id", "webhook_secret")
    op.drop_table("webhook_secret")
    op.drop_table("webhook_channel")
