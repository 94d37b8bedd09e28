"""`kb import` takes the KCS shape and the older one (body, keywords, published), and names the bad field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.runtime import Runtime
from engine.store.models import KbArticle, KbArticleVersion
from engine.usecases.knowledge import import_kb_file

OLD = [{"slug": "old-shape", "title": "Printer offline", "body": "Re-add the printer.", "keywords": "printer",
        "published": True}]
NEW = [{"slug": "new-shape", "title": "Printer offline", "problem": "Shows offline.", "cause": "Old IP address.",
        "resolution": "Set it to DHCP.", "tags": "printer dhcp", "state": "in_review"}]


def write(tmp_path: Path, items: object) -> Path:
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_both_shapes_import_and_a_second_import_is_a_new_version(runtime: Runtime, tmp_path: Path) -> None:
    assert import_kb_file(runtime, write(tmp_path, OLD + NEW)) == (2, 0)
    assert import_kb_file(runtime, write(tmp_path, [{**OLD[0], "body": "Re-add the printer by IP."}])) == (0, 1)
    with runtime.uow() as uow:
        old, new = (uow.session.scalars(select(KbArticle).where(KbArticle.slug == s)).one()
                    for s in ("old-shape", "new-shape"))
        assert (old.state, old.resolution, old.tags, old.version) == ("published", "Re-add the printer by IP.",
                                                                       "printer", 2)
        assert old.published_at is not None
        assert (new.state, new.cause, new.published_at) == ("in_review", "Old IP address.", None)
        versions = uow.session.scalars(select(KbArticleVersion.editor).where(KbArticleVersion.article_id == old.id))
        assert list(versions) == ["import", "import"]


@pytest.mark.parametrize(("item", "says"), [
    ({"slug": "x", "title": "T"}, "'resolution' (or the older 'body')"),
    ({"slug": "x", "title": "T", "body": "B", "state": "gone"}, "'state' must be one of"),
    ({"slug": "x", "title": "T", "body": "B", "colour": "red"}, "unknown field(s) ['colour']"),
])
def test_a_bad_article_names_its_field_and_nothing_is_imported(runtime: Runtime, tmp_path: Path, item: dict,
                                                               says: str) -> None:
    with pytest.raises(ValueError, match="article 1") as refused:
        import_kb_file(runtime, write(tmp_path, [*NEW, item]))
    assert says in str(refused.value)
    with runtime.uow() as uow:
        assert list(uow.session.scalars(select(KbArticle.slug))) == []
