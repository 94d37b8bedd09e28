"""Initial schema: definitions, units, tickets, worklist, history, outbox, knowledge base.

Revision ID: 0001
"""
import sqlalchemy as sa

from alembic import op
from engine.store.models import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_definition",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("bpmn", sa.LargeBinary, nullable=False),
        sa.Column("forms", sa.JSON, nullable=False),
        sa.Column("deployed_by", sa.String(200), nullable=False),
        sa.Column("deployed_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("key", "version"),
    )
    unit = op.create_table(
        "unit",
        sa.Column("code", sa.String(50), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("first_response", sa.String(32), nullable=False),
        sa.Column("response_window", sa.String(32), nullable=False),
    )
    op.bulk_insert(unit, [{"code": "general", "name": "General support",
                           "first_response": "PT4H", "response_window": "P3D"}])
    op.create_table(
        "ticket",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(20), unique=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("current_lanes", sa.String(200), nullable=False, index=True),
        sa.Column("current_steps", sa.String(500), nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("customer", sa.String(200), nullable=False),
        sa.Column("contact", sa.JSON, nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("type", sa.String(30)),
        sa.Column("impact", sa.String(10)),
        sa.Column("urgency", sa.String(10)),
        sa.Column("priority", sa.String(2)),
        sa.Column("unit_code", sa.String(50), sa.ForeignKey("unit.code"), nullable=False),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("first_response_due", UtcDateTime),
        sa.Column("first_response_at", UtcDateTime),
        sa.Column("resolved_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("definition_id", sa.Integer, sa.ForeignKey("process_definition.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("workflow", sa.Text, nullable=False),
        sa.Column("next_timer_at", UtcDateTime, index=True),
        sa.Column("stalled_reason", sa.Text),
        sa.Column("history_seq", sa.Integer, nullable=False),
        sa.Column("history_head", sa.String(64), nullable=False),
    )
    op.create_index("ix_ticket_status_opened", "ticket", ["status", "opened_at"])
    op.create_index("ix_ticket_customer_opened", "ticket", ["customer", "opened_at"])
    op.create_index("ix_ticket_unit_status", "ticket", ["unit_code", "status"])
    op.create_index("ix_ticket_priority_status", "ticket", ["priority", "status"])
    op.create_table(
        "human_task",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), nullable=False, index=True),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("lane", sa.String(100), nullable=False),
        sa.Column("form", sa.String(200)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("assignee", sa.String(200)),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("claimed_at", UtcDateTime),
        sa.Column("completed_by", sa.String(200)),
        sa.Column("completed_at", UtcDateTime),
    )
    op.create_index("ix_human_task_state_lane", "human_task", ["state", "lane", "created_at"])
    op.create_index("ix_human_task_state_assignee", "human_task", ["state", "assignee"])
    # Each step reads the ticket's ready rows; without state in the index that scan grows with loops.
    op.create_index("ix_human_task_ticket_state", "human_task", ["ticket_id", "state"])
    op.create_table(
        "history_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("element_id", sa.String(200)),
        sa.Column("element_name", sa.String(300)),
        sa.Column("lane", sa.String(100)),
        sa.Column("task_id", sa.String(36)),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("ticket_id", "seq"),
    )
    op.create_index("ix_history_event_at", "history_event", ["at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("ticket.id"), index=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("purpose", sa.String(50), nullable=False),
        sa.Column("recipient", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("locked_until", UtcDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "kb_article",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("keywords", sa.String(500), nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("review_by", UtcDateTime),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_search_and_append_only()
    else:
        _sqlite_search()


def _sqlite_search() -> None:
    # An external-content FTS5 index kept in step by triggers; ranked with bm25().
    op.execute("CREATE VIRTUAL TABLE kb_article_fts USING fts5("
               "title, body, keywords, content='kb_article', content_rowid='id', tokenize='porter unicode61')")
    op.execute("CREATE TRIGGER kb_article_ai AFTER INSERT ON kb_article BEGIN "
               "INSERT INTO kb_article_fts(rowid, title, body, keywords) "
               "VALUES (new.id, new.title, new.body, new.keywords); END")
    op.execute("CREATE TRIGGER kb_article_ad AFTER DELETE ON kb_article BEGIN "
               "INSERT INTO kb_article_fts(kb_article_fts, rowid, title, body, keywords) "
               "VALUES ('delete', old.id, old.title, old.body, old.keywords); END")
    op.execute("CREATE TRIGGER kb_article_au AFTER UPDATE ON kb_article BEGIN "
               "INSERT INTO kb_article_fts(kb_article_fts, rowid, title, body, keywords) "
               "VALUES ('delete', old.id, old.title, old.body, old.keywords); "
               "INSERT INTO kb_article_fts(rowid, title, body, keywords) "
               "VALUES (new.id, new.title, new.body, new.keywords); END")


def _postgresql_search_and_append_only() -> None:
    op.execute("ALTER TABLE kb_article ADD COLUMN search tsvector GENERATED ALWAYS AS ("
               "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
               "setweight(to_tsvector('english', coalesce(keywords, '')), 'B') || "
               "setweight(to_tsvector('english', coalesce(body, '')), 'C')) STORED")
    op.execute("CREATE INDEX ix_kb_article_search ON kb_article USING gin (search)")
    # History is append-only in the database itself, not only in the application.
    op.execute("CREATE FUNCTION history_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION 'history_event is append-only: % refused', TG_OP; END $$")
    op.execute("CREATE TRIGGER history_event_no_update_delete BEFORE UPDATE OR DELETE ON history_event "
               "FOR EACH ROW EXECUTE FUNCTION history_event_append_only()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER history_event_no_update_delete ON history_event")
        op.execute("DROP FUNCTION history_event_append_only()")
    else:
        op.execute("DROP TABLE kb_article_fts")
    for table in ("kb_article", "outbox", "history_event", "human_task", "ticket", "unit", "process_definition"):
        op.drop_table(table)
