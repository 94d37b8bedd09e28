"""Definition versions are activated separately from deploying: an append-only record of activations.

Revision ID: 0015
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "definition_activation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("process_definition.id"), nullable=False),
        sa.Column("activated_by", sa.String(limits.PERSON_NAME), nullable=False),
        sa.Column("activated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_definition_activation_key", "definition_activation", ["key", "id"])
    # The record of who activated what is kept like the history: rows are added, never changed or removed.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER definition_activation_no_update_delete BEFORE UPDATE OR DELETE "
                   "ON definition_activation FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
        op.execute("CREATE TRIGGER definition_activation_no_truncate BEFORE TRUNCATE ON definition_activation "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER definition_activation_no_{operation.lower()} BEFORE {operation} "
                   f"ON definition_activation BEGIN "
                   f"SELECT RAISE(ABORT, 'definition_activation is append-only: {operation} refused'); END")


def downgrade() -> None:
    op.drop_table("definition_activation")  # its triggers go with it
