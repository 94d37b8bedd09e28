"""Append-only for real: TRUNCATE refused on PostgreSQL, UPDATE and DELETE refused on SQLite.

On PostgreSQL 0001 and 0003 refuse UPDATE and DELETE row by row, and 0003 TRUNCATE on the audit tables; TRUNCATE
fires no row trigger, so history_event could still be emptied in one statement. On SQLite nothing was guarded.

Revision ID: 0013
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Every table whose rows, once written, are the record: the history, the anchors, the auditors' reads.
APPEND_ONLY = ("history_event", "audit_anchor", "audit_anchor_entry", "audit_access")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The function 0001 made names history_event itself; it serves its TRUNCATE as well.
        op.execute("CREATE TRIGGER history_event_no_truncate BEFORE TRUNCATE ON history_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION history_event_append_only()")
        return
    for table in APPEND_ONLY:
        for operation in ("UPDATE", "DELETE"):
            # SQLite has no statement-level TRUNCATE: a DELETE without WHERE runs this row trigger too.
            op.execute(f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER history_event_no_truncate ON history_event")
        return
    for table in APPEND_ONLY:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{operation}")
