"""Outbound webhooks: subscriptions (URL, event types, signing secret), each outbox webhook row's subscription,
and every delivery attempt (status code, latency, error).

Revision ID: 0010
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(limits.RECIPIENT), nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("description", sa.String(limits.PERSON_NAME), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(limits.PERSON_NAME), nullable=False),
    )
    # The hot path's one lookup: the active subscriptions (cached per process, see engine/store/webhooks.py).
    op.create_index("ix_webhook_subscription_active", "webhook_subscription", ["disabled", "deleted"])
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("subscription_id", sa.Integer,
                                   sa.ForeignKey("webhook_subscription.id", name="fk_outbox_subscription")))
        batch.create_index("ix_outbox_subscription", ["subscription_id", "id"])
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False, index=True),
        sa.Column("subscription_id", sa.Integer, sa.ForeignKey("webhook_subscription.id"), nullable=False,
                  index=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempt")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_subscription")
        batch.drop_constraint("fk_outbox_subscription", type_="foreignkey")
        batch.drop_column("subscription_id")
    op.drop_index("ix_webhook_subscription_active", "webhook_subscription")
    op.drop_table("webhook_subscription")
