"""Users and their hashed API tokens.

Revision ID: 0002
"""
import sqlalchemy as sa

from alembic import op
from engine.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("email", sa.String(300)),
        sa.Column("unit_code", sa.String(50), sa.ForeignKey("unit.code")),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False, index=True),
        # SHA-256 of the token: tokens carry 256 random bits, so a fast hash is enough (no guessing).
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(12), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
    )


def downgrade() -> None:
    op.drop_table("api_token")
    op.drop_table("app_user")
