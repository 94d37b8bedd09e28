"""Migration 0012 on a knowledge base written before it: body becomes the resolution, published the state, each
article gets its first version, and the new full-text index finds the old articles by their new fields."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text

from alembic import command
from engine.store.db import REPO_ROOT, current_revision, upgrade
from engine.store.knowledge import search

INSERT = ("INSERT INTO kb_article (slug, title, body, keywords, published, review_by, updated_at) VALUES "
          "(:slug, :title, :body, 'vpn tunnel', :published, NULL, '2026-03-02 09:00:00')")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def migrate_old_articles(url: str) -> None:
    upgrade(url, "0011")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text(INSERT), {"slug": "vpn-drops", "title": "VPN drops every ten minutes",
                                          "body": "Turn off power saving on the network adapter.", "published": True})
        connection.execute(text(INSERT), {"slug": "vpn-notes", "title": "Unreviewed VPN notes",
                                          "body": "Something about split tunnelling.", "published": False})
    upgrade(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT slug, state, resolution, tags, published_at IS NOT NULL, "
                                       "created_at IS NOT NULL, version FROM kb_article ORDER BY slug")).all()
        assert [tuple(r) for r in rows] == [
            ("vpn-drops", "published", "Turn off power saving on the network adapter.", "vpn tunnel", True, True, 1),
            ("vpn-notes", "draft", "Something about split tunnelling.", "vpn tunnel", False, True, 1)]
        assert connection.execute(text("SELECT count(*) FROM kb_article_version WHERE version = 1")).scalar() == 2
        assert [m.slug for m in search(connection, "adapter power saving", NOW)] == ["vpn-drops"]
        connection.execute(text("UPDATE kb_article SET resolution = 'Update the client to 5.2.' "
                                "WHERE slug = 'vpn-drops'"))
        assert [m.slug for m in search(connection, "update client", NOW)] == ["vpn-drops"]  # triggers keep it
        assert search(connection, "adapter power saving", NOW) == []
    engine.dispose()


def test_old_articles_migrate_on_sqlite_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate_old_articles(url)
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0011")  # the way back restores the old index over title, body and keywords
    assert current_revision(url) == "0011"
    engine = create_engine(url)
    with engine.connect() as connection:
        assert "resolution" not in {c[1] for c in connection.execute(text("PRAGMA table_info(kb_article)"))}
        assert connection.execute(text("SELECT count(*) FROM kb_article_fts WHERE kb_article_fts MATCH 'adapter'"
                                       )).scalar() == 1
    engine.dispose()


@pytest.mark.postgres
def test_old_articles_migrate_on_postgres(postgres_url: str) -> None:
    engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:  # the fixture migrated to head: start again from scratch
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    migrate_old_articles(postgres_url)
