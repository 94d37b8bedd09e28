"""Search quality on a fixture corpus (220 articles, 50 queries phrased as customers write): the right article is
in the top 3 for at least 90% of the queries, on SQLite FTS5 and on PostgreSQL."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.runtime import Runtime
from engine.usecases.knowledge import import_kb_file, search_kb

DATA = Path(__file__).parents[1] / "data" / "kb"
TOP = 3
REQUIRED = 0.9


def hit_rate(runtime: Runtime, database: str, imported: bool = False) -> float:
    if not imported:
        created, _ = import_kb_file(runtime, DATA / "corpus.json")
        assert created >= 200
    queries = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))
    assert len(queries) >= 50
    misses = []
    for case in queries:
        found = [m.slug for m in search_kb(runtime, case["q"], TOP, audience="customer")]
        if case["slug"] not in found:
            misses.append(f"  {case['q']!r}: expected {case['slug']}, got {found}")
    rate = 1 - len(misses) / len(queries)
    print(f"\nKB search quality on {database}: {rate:.0%} of {len(queries)} queries have the right article "
          f"in the top {TOP}" + ("\n" + "\n".join(misses) if misses else ""))
    return rate


def test_search_quality_on_sqlite(runtime: Runtime) -> None:
    assert hit_rate(runtime, "SQLite FTS5") >= REQUIRED


@pytest.mark.postgres
def test_search_quality_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    assert hit_rate(runtimes(postgres_url), "PostgreSQL") >= REQUIRED


@pytest.mark.postgres
def test_search_quality_on_postgresql_with_word_statistics(postgres_url: str,
                                                           runtimes: Callable[..., Runtime]) -> None:
    """After ANALYZE (autovacuum runs it) the candidates come from the query's uncommon words first."""
    runtime = runtimes(postgres_url)
    import_kb_file(runtime, DATA / "corpus.json")
    with runtime.uow() as uow:
        uow.session.execute(text("ANALYZE kb_article"))
        uow.commit()
        common = uow.session.execute(text("SELECT count(*) FROM pg_stats WHERE tablename = 'kb_article' "
                                          "AND attname = 'search' AND most_common_elems IS NOT NULL")).scalar()
        assert common == 1
    assert hit_rate(runtime, "PostgreSQL after ANALYZE", imported=True) >= REQUIRED
