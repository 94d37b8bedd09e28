"""Audit: hash-chained anchors of ticket history heads, and the record of auditor reads.

Revision ID: 0003
"""
import sqlalchemy as sa

from alembic import op
from engine.store.models import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_anchor", "audit_anchor_entry", "audit_access")


def upgrade() -> None:
    op.create_table(
        "audit_anchor",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False, unique=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("tickets", sa.Integer, nullable=False),
        sa.Column("entries_digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_anchor_entry",
        # Deferred: an anchor's entries are written before the anchor row that carries their digest.
        sa.Column("anchor_seq", sa.Integer, sa.ForeignKey("audit_anchor.seq", deferrable=True,
                                                          initially="DEFERRED"), primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), primary_key=True),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
    )
    # Anchoring asks, per ticket, for the last anchored head; verifying, for all of a ticket's entries.
    op.create_index("ix_audit_anchor_entry_ticket_seq", "audit_anchor_entry", ["ticket_id", "head_seq"])
    op.create_table(
        "audit_access",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("what", sa.String(20), nullable=False),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id")),
        sa.Column("ticket_number", sa.String(20)),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_access_ticket_at", "audit_access", ["ticket_id", "at"])
    op.create_index("ix_audit_access_at", "audit_access", ["at"])
    # The export walks events in (at, ticket, seq) order by keyset; this index serves it without a sort.
    op.create_index("ix_history_event_at_ticket_seq", "history_event", ["at", "ticket_id", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        # Refuse UPDATE and DELETE in the database itself, as on history_event.
        op.execute("CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
            # TRUNCATE fires no row triggers; refuse it separately.
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION audit_append_only()")
    op.drop_index("ix_history_event_at_ticket_seq", "history_event")
    for table in ("audit_access", "audit_anchor_entry", "audit_anchor"):
        op.drop_table(table)
