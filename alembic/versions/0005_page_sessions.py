"""Server-side page sessions: sign-out, a new token and the idle timeout end them for good.

Revision ID: 0005
"""
import sqlalchemy as sa

from alembic import op
from engine.store.models import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_session",
        sa.Column("id", sa.Integer, primary_key=True),
        # SHA-256 of the random id the cookie carries (256 bits: a fast hash cannot be reversed or guessed).
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("ended_at", UtcDateTime),
    )


def downgrade() -> None:
    op.drop_table("page_session")
