"""Knowledge articles that learn: KCS fields, states, versions, uses and deflections.

Revision ID: 0012
"""
import sqlalchemy as sa

from alembic import op
from engine import limits
from engine.store.models import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, no table rebuild: the full-text index's triggers on kb_article stay in place.
    op.add_column("kb_article", sa.Column("state", sa.String(12), nullable=False, server_default="published"))
    op.add_column("kb_article", sa.Column("created_at", UtcDateTime(), nullable=True))
    op.add_column("kb_article", sa.Column("published_at", UtcDateTime(), nullable=True))
    op.add_column("kb_article", sa.Column("source_ticket_id", sa.Integer(), nullable=True))
    op.add_column("kb_article", sa.Column("reuse_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE kb_article SET state = CASE WHEN published THEN 'published' ELSE 'draft' END, "
               "created_at = updated_at, published_at = CASE WHEN published THEN updated_at END")
    op.create_table(
        "kb_article_use",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("kb_article.id"), nullable=False, index=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False, index=True),
        sa.Column("relation", sa.String(10), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_kb_article_use_at", "kb_article_use", ["at"])
    op.create_table(
        "kb_deflection",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("kb_article.id"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("query", sa.String(200), nullable=False, server_default=""),
        sa.Column("user_name", sa.String(limits.PERSON_NAME), nullable=True),
    )
    op.create_index("ix_kb_deflection_at", "kb_deflection", ["at"])
    _kcs_fields()
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_search(KCS_VECTOR)
    else:
        _sqlite_search(KCS_COLUMNS)


# The searched fields and their weight class: the title and tags name the problem, the problem is how
# customers describe it, cause and resolution hold the detail, the environment only narrows.
KCS_WEIGHTS = (("title", "A"), ("tags", "A"), ("problem", "B"), ("cause", "C"), ("resolution", "C"),
               ("environment", "D"))
KCS_COLUMNS = tuple(name for name, _ in KCS_WEIGHTS)
KCS_VECTOR = " || ".join(f"setweight(to_tsvector('english', coalesce({name}, '')), '{weight}')"
                         for name, weight in KCS_WEIGHTS)
LEGACY_COLUMNS = ("title", "body", "keywords")
LEGACY_VECTOR = ("setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
                 "setweight(to_tsvector('english', coalesce(keywords, '')), 'B') || "
                 "setweight(to_tsvector('english', coalesce(body, '')), 'C')")


def _kcs_fields() -> None:
    text = {name: sa.Column(name, sa.Text(), nullable=False, server_default="")
            for name in ("problem", "environment", "cause", "resolution")}
    for column in text.values():
        op.add_column("kb_article", column)
    op.add_column("kb_article", sa.Column("tags", sa.String(limits.KB_KEYWORDS), nullable=False, server_default=""))
    for name in ("author", "reviewer"):
        op.add_column("kb_article", sa.Column(name, sa.String(limits.PERSON_NAME), nullable=True))
    op.add_column("kb_article", sa.Column("reviewed_at", UtcDateTime(), nullable=True))
    op.add_column("kb_article", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("kb_article", sa.Column("review_note", sa.Text(), nullable=False, server_default=""))
    op.execute("UPDATE kb_article SET resolution = body, tags = keywords")
    op.create_table(
        "kb_article_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("kb_article.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(limits.KB_TITLE), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("tags", sa.String(limits.KB_KEYWORDS), nullable=False),
        sa.Column("editor", sa.String(limits.PERSON_NAME), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.UniqueConstraint("article_id", "version", name="uq_kb_article_version"),
    )
    # Every existing article starts its history with what it says today.
    op.execute("INSERT INTO kb_article_version (article_id, version, title, problem, environment, cause, "
               "resolution, tags, editor, at, note) SELECT id, 1, title, problem, environment, cause, resolution, "
               "tags, 'migration', updated_at, 'imported before versions were kept' FROM kb_article")


def _sqlite_search(columns: tuple[str, ...]) -> None:
    # An external-content FTS5 index kept in step by triggers, rebuilt over the new columns (porter stems).
    for trigger in ("kb_article_ai", "kb_article_ad", "kb_article_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS kb_article_fts")
    listed = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(f"CREATE VIRTUAL TABLE kb_article_fts USING fts5({listed}, content='kb_article', "
               "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')")
    op.execute(f"CREATE TRIGGER kb_article_ai AFTER INSERT ON kb_article BEGIN "
               f"INSERT INTO kb_article_fts(rowid, {listed}) VALUES (new.id, {new}); END")
    op.execute(f"CREATE TRIGGER kb_article_ad AFTER DELETE ON kb_article BEGIN "
               f"INSERT INTO kb_article_fts(kb_article_fts, rowid, {listed}) VALUES ('delete', old.id, {old}); END")
    # Only a change to a searched column touches the index: counting a reuse does not.
    op.execute(f"CREATE TRIGGER kb_article_au AFTER UPDATE OF {listed} ON kb_article BEGIN "
               f"INSERT INTO kb_article_fts(kb_article_fts, rowid, {listed}) VALUES ('delete', old.id, {old}); "
               f"INSERT INTO kb_article_fts(rowid, {listed}) VALUES (new.id, {new}); END")
    op.execute("INSERT INTO kb_article_fts(kb_article_fts) VALUES ('rebuild')")


def _postgresql_search(vector: str) -> None:
    op.execute("ALTER TABLE kb_article DROP COLUMN search")  # its GIN index goes with it
    op.execute(f"ALTER TABLE kb_article ADD COLUMN search tsvector GENERATED ALWAYS AS ({vector}) STORED")
    op.execute("CREATE INDEX ix_kb_article_search ON kb_article USING gin (search)")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # the generated column reads the new columns: it goes back first
        _postgresql_search(LEGACY_VECTOR)
    op.drop_table("kb_article_version")
    op.drop_table("kb_deflection")
    op.drop_table("kb_article_use")
    with op.batch_alter_table("kb_article") as article:
        for name in ("reuse_count", "source_ticket_id", "published_at", "created_at", "state", "problem",
                     "environment", "cause", "resolution", "tags", "author", "reviewer", "reviewed_at", "version",
                     "review_note"):
            article.drop_column(name)
    if not postgres:  # the batch rebuild dropped the table's triggers: the index comes back as 0001 made it
        _sqlite_search(LEGACY_COLUMNS)
