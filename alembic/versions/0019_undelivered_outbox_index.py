"""The outbox's poll index holds only messages not yet delivered.

Delivered messages are nearly every row and never polled again, so they left the index that finds the due
ones: it stays as small as the backlog, and a closed ticket's delivered messages no longer pay for it. Queries
that use it say ``state <> 'delivered'`` as the index does, which SQLite needs to see literally.

Revision ID: 0019
"""
import sqlalchemy as sa

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UNDELIVERED = sa.text("state <> 'delivered'")


def upgrade() -> None:
    op.drop_index("ix_outbox_state_next", "outbox")
    op.create_index("ix_outbox_undelivered", "outbox", ["state", "next_attempt_at"],
                    sqlite_where=UNDELIVERED, postgresql_where=UNDELIVERED)


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", "outbox")
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
