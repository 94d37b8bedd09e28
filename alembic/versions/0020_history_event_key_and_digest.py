"""History events are keyed by (ticket_id, seq) and store their hash as its 32 bytes.

- The surrogate ``id`` was read by nothing. It cost a column and, on PostgreSQL, an index entry per event; the
  unique (ticket_id, seq) that names an event becomes the primary key.
- ``hash`` held 64 hex digits; it now holds the digest's 32 bytes (``engine.store.models.Digest`` still shows it
  as hex). Together about 1.7 KB less for a 29-event ticket on PostgreSQL.

Both rewrite history_event, holding it locked for the copy. PostgreSQL does it with one ALTER TABLE: row triggers
do not fire, so the append-only guards stay in place. SQLite cannot change a column's type or a primary key in
place, so the rows are copied into a new table in their order, the old table is dropped (its row triggers do not
fire either) and its index and guards are made again. No event's content changes, so every chain verifies the same.

Revision ID: 0020
"""
import sqlalchemy as sa

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The columns every event keeps, as 0001 and 0018 made them, in the order SQLite copies them.
KEPT = ("ticket_id", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data", "packed",
        "prev_hash")
SQLITE_COLUMNS = """ticket_id INTEGER NOT NULL REFERENCES ticket (id), seq INTEGER NOT NULL, at DATETIME NOT NULL,
    actor VARCHAR(200) NOT NULL, kind VARCHAR(50) NOT NULL, element_id VARCHAR(200), element_name VARCHAR(300),
    lane VARCHAR(100), task_id VARCHAR(36), data JSON NOT NULL, packed BLOB, prev_hash VARCHAR(64) NOT NULL"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        unique = _unique_constraint()
        op.execute("ALTER TABLE history_event DROP CONSTRAINT history_event_pkey, "
                   f'DROP CONSTRAINT "{unique}", DROP COLUMN id, '
                   "ALTER COLUMN hash TYPE bytea USING decode(hash, 'hex'), ADD PRIMARY KEY (ticket_id, seq)")
        return
    _rebuild_sqlite(f"{SQLITE_COLUMNS}, hash BLOB NOT NULL, PRIMARY KEY (ticket_id, seq)",
                    "unhex_digest(hash)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE history_event DROP CONSTRAINT history_event_pkey, ADD COLUMN id SERIAL PRIMARY KEY, "
                   "ALTER COLUMN hash TYPE VARCHAR(64) USING encode(hash, 'hex'), ADD UNIQUE (ticket_id, seq)")
        return
    _rebuild_sqlite(f"id INTEGER NOT NULL PRIMARY KEY, {SQLITE_COLUMNS}, hash VARCHAR(64) NOT NULL, "
                    "UNIQUE (ticket_id, seq)", "lower(hex(hash))")


def _unique_constraint() -> str:
    """The name PostgreSQL gave 0001's UNIQUE (ticket_id, seq)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("history_event"):
        if constraint["column_names"] == ["ticket_id", "seq"]:
            return str(constraint["name"])
    raise RuntimeError("history_event has no UNIQUE (ticket_id, seq): this database was not made by ticketflow")


def _rebuild_sqlite(columns: str, digest: str) -> None:
    """Copy history_event into a table made of ``columns``, converting the hash with the SQL ``digest``."""
    bind = op.get_bind()
    # SQLite before 3.41 has no unhex(); the copy uses Python's, on this connection only.
    bind.connection.driver_connection.create_function("unhex_digest", 1, bytes.fromhex, deterministic=True)
    kept = ", ".join(KEPT)
    op.execute(f"CREATE TABLE history_event_copy ({columns})")
    op.execute(f"INSERT INTO history_event_copy ({kept}, hash) "
               f"SELECT {kept}, {digest} FROM history_event ORDER BY rowid")  # oldest first, as recorded
    op.execute("DROP TABLE history_event")  # its index and triggers go with it; no row trigger fires
    op.execute("ALTER TABLE history_event_copy RENAME TO history_event")
    op.create_index("ix_history_event_at_ticket_seq", "history_event", ["at", "ticket_id", "seq"])
    for operation in ("UPDATE", "DELETE"):  # as 0013 made them
        op.execute(f"CREATE TRIGGER history_event_no_{operation.lower()} BEFORE {operation} ON history_event "
                   f"BEGIN SELECT RAISE(ABORT, 'history_event is append-only: {operation} refused'); END")
