"""History events store their data packed (``engine/store/packing.py``): a ``packed`` column beside ``data``.

Adding a column rewrites no row, so the append-only guards stay as they are and old events keep their JSON.

Revision ID: 0018
"""
import sqlalchemy as sa

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("history_event", sa.Column("packed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # The history cannot be rewritten (it is append-only), so packed events would lose their data: refuse.
    if op.get_bind().execute(sa.text("SELECT 1 FROM history_event WHERE packed IS NOT NULL LIMIT 1")).first():
        raise RuntimeError("history events were recorded with packed data; going below 0018 would lose it")
    op.execute("ALTER TABLE history_event DROP COLUMN packed")  # SQLite 3.35+ drops a column in place
