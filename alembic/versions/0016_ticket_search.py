"""Agent views: full-text search over tickets and their conversation, saved views, the lists' indexes.

Revision ID: 0016
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Each list sort (and each filter with the default sort) walks one of these in order, so a page (deep or
# not) reads about as many index entries as it shows; ``id`` last is the keyset's tie-breaker.
LIST_INDEXES = {
    "ix_ticket_opened": ["opened_at", "id"],
    "ix_ticket_priority_opened": ["priority", "opened_at", "id"],
    "ix_ticket_sla_opened": ["sla_state", "opened_at", "id"],
    "ix_ticket_channel_opened": ["channel", "opened_at", "id"],
    "ix_ticket_unit_opened": ["unit_code", "opened_at", "id"],
    "ix_ticket_priority_id": ["priority", "id"],
    "ix_ticket_response_due": ["first_response_due", "id"],
    "ix_ticket_resolution_due": ["resolution_due", "id"],
}
# The worklist's order: an open ticket's next due time, the first response until it is given, then the
# resolution; each half indexed over the open tickets only (most tickets are closed). Open is said by the
# status, not by closed_at IS NULL: SQLite would take that for a selective equality on the reports' index.
OPEN_DUE_INDEXES = {
    "ix_ticket_open_response_due": ("first_response_due", "status <> 'closed' AND first_response_at IS NULL"),
    "ix_ticket_open_resolution_due": ("resolution_due", "status <> 'closed' AND first_response_at IS NOT NULL"),
}


def upgrade() -> None:
    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(limits.PERSON_NAME), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_saved_view_owner_name"),
    )
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "ticket", columns)
    for name, (due, where) in OPEN_DUE_INDEXES.items():
        op.create_index(name, "ticket", [due, "id"], sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_search()
    else:
        _sqlite_search()


def _sqlite_search() -> None:
    # External-content FTS5 indexes kept in step by triggers (as the knowledge base's, migration 0012).
    # A step rewrites the whole ticket row: the WHEN clause keeps the index untouched unless a text changed.
    for table, source, columns in (("ticket_fts", "ticket", ("subject", "description")),
                                   ("conversation_fts", "conversation_entry", ("shown",))):
        listed = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
        op.execute(f"CREATE VIRTUAL TABLE {table} USING fts5({listed}, content='{source}', content_rowid='id', "
                   "tokenize='porter unicode61 remove_diacritics 2')")
        op.execute(f"CREATE TRIGGER {table}_ai AFTER INSERT ON {source} BEGIN "
                   f"INSERT INTO {table}(rowid, {listed}) VALUES (new.id, {new}); END")
        op.execute(f"CREATE TRIGGER {table}_ad AFTER DELETE ON {source} BEGIN "
                   f"INSERT INTO {table}({table}, rowid, {listed}) VALUES ('delete', old.id, {old}); END")
        op.execute(f"CREATE TRIGGER {table}_au AFTER UPDATE OF {listed} ON {source} WHEN {changed} BEGIN "
                   f"INSERT INTO {table}({table}, rowid, {listed}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {table}(rowid, {listed}) VALUES (new.id, {new}); END")
        op.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")


def _postgresql_search() -> None:
    # Expression GIN indexes: the search queries repeat these expressions exactly (engine/store/ticket_search.py).
    op.execute("CREATE INDEX ix_ticket_search ON ticket "
               "USING gin (to_tsvector('english', subject || ' ' || description))")
    op.execute("CREATE INDEX ix_conversation_entry_search ON conversation_entry "
               "USING gin (to_tsvector('english', shown))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_conversation_entry_search")
        op.execute("DROP INDEX ix_ticket_search")
    else:
        for table in ("ticket_fts", "conversation_fts"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}")
    for name in [*LIST_INDEXES, *OPEN_DUE_INDEXES]:
        op.drop_index(name, "ticket")
    op.drop_table("saved_view")
