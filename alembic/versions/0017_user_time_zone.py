"""Each user may have their own time zone for the pages; none means their unit's (else UTC).

Revision ID: 0017
"""
import sqlalchemy as sa

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.add_column(sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.drop_column("time_zone")
