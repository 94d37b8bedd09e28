"""Benchmark: knowledge-base search over 10,000 articles, on SQLite FTS5 and PostgreSQL, side by side.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.kb_search        (or: .venv/bin/python bench/kb_search.py)

For each database (a temporary SQLite file; a scratch PostgreSQL database, dropped afterwards) the run migrates a
fresh schema and bulk-loads 10,000 published articles: the 220 fixture articles of ``tests/data/kb/corpus.json``
repeated with other versions, platforms and site-specific words, so each query meets many near-duplicates (harder
than a real knowledge base). It then times ``search_kb`` (what ``GET /api/v1/kb/search`` and the step 1.3 search
run: one unit of work, the ranked query with snippets, relevance in words) for the 50 labelled queries of
``tests/data/kb/queries.json``, as an agent (drafts too) and as a customer typing (published only, last word as a
prefix): p50 and p95 over ``ROUNDS`` rounds after a warm-up, next to the 20 ms target. PostgreSQL is skipped, with
the reason, when it does not answer (TICKETFLOW_TEST_POSTGRES_URL). The exit code is always 0.
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch import scratch_postgres  # noqa: E402
from engine.config import EngineConfig  # noqa: E402
from engine.store.db import make_engine, upgrade  # noqa: E402
from engine.usecases.knowledge import search_kb  # noqa: E402
from ticketflow.composition import make_runtime  # noqa: E402

ARTICLES = 10_000
ROUNDS = 5
TARGET_MS = 20.0
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "kb"
COLUMNS = ("slug", "title", "body", "keywords", "published", "updated_at", "created_at", "state", "published_at",
           "problem", "environment", "cause", "resolution", "tags", "version", "reuse_count", "review_note")
SITES = ("head office", "warehouse", "branch in Lyon", "call centre", "lab", "retail store", "remote staff",
         "finance team", "school", "clinic", "factory floor", "hotel front desk")
PLATFORMS = ("Windows 10", "Windows 11", "macOS 13", "macOS 14", "Ubuntu 22.04", "iOS 17", "Android 14", "ChromeOS")


def articles() -> list[tuple[Any, ...]]:
    """10,000 article rows, deterministic: the fixture corpus varied by site, platform and version."""
    corpus = json.loads((DATA / "corpus.json").read_text(encoding="utf-8"))
    pick = random.Random(13)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for number in range(ARTICLES):
        base = corpus[number % len(corpus)]
        site, platform = pick.choice(SITES), pick.choice(PLATFORMS)
        version = f"{pick.randint(1, 9)}.{pick.randint(0, 20)}"
        values = {**base, "slug": f"{base['slug']}-{number}", "title": f"{base['title']} ({site})",
                  "environment": f"{base['environment']}; {platform}; release {version}; {site}",
                  "body": "", "keywords": "", "published": True, "updated_at": now, "created_at": now,
                  "state": "published", "published_at": now, "version": 1, "reuse_count": 0, "review_note": ""}
        rows.append(tuple(values[column] for column in COLUMNS))
    return rows


def load(url: str) -> float:
    """Migrate and bulk-load the articles; the seconds it took."""
    upgrade(url)
    engine = make_engine(url)
    raw = engine.raw_connection()
    started = time.perf_counter()
    try:
        connection: Any = raw.driver_connection
        postgres = engine.dialect.name == "postgresql"
        mark = "%s" if postgres else "?"
        statement = f"INSERT INTO kb_article ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"
        rows = articles() if postgres else [tuple(_sqlite(v) for v in row) for row in articles()]
        connection.cursor().executemany(statement, rows)
        connection.commit()
        if postgres:
            connection.autocommit = True
            connection.execute("VACUUM ANALYZE kb_article")
        else:
            connection.execute("ANALYZE")
        return time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()


def _sqlite(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite: UTC datetimes as naive ISO text with microseconds."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def run(name: str, url: str) -> dict[str, tuple[float, float]]:
    """p50 and p95 in milliseconds per kind of search."""
    seconds = load(url)
    print(f"{name}: loaded {ARTICLES:,} articles in {seconds:.1f} s", flush=True)
    queries = [case["q"] for case in json.loads((DATA / "queries.json").read_text(encoding="utf-8"))]
    runtime = make_runtime(EngineConfig(database_url=url))
    kinds: dict[str, dict[str, Any]] = {
        "agent search (top 10)": {"limit": 10, "audience": "agent"},
        "customer typing (top 5, prefix)": {"limit": 5, "audience": "customer", "partial": True}}
    try:
        results = {}
        for kind, options in kinds.items():
            for query in queries:  # warm-up: caches, statement preparation
                search_kb(runtime, query, **options)
            timings = []
            for _ in range(ROUNDS):
                for query in queries:
                    started = time.perf_counter()
                    search_kb(runtime, query, **options)
                    timings.append((time.perf_counter() - started) * 1000)
            cuts = statistics.quantiles(timings, n=100)
            results[kind] = (statistics.median(timings), cuts[94])
        return results
    finally:
        runtime.close()


def report(results: dict[str, dict[str, tuple[float, float]]]) -> None:
    names = list(results)
    print(f"\nKB search over {ARTICLES:,} articles, 50 queries x {ROUNDS} rounds: p50 / p95 in ms "
          f"(target p95 under {TARGET_MS:.0f} ms)")
    print(f"{'':34}" + "".join(f"{name:>24}" for name in names))
    for kind in next(iter(results.values())):
        cells = []
        for name in names:
            p50, p95 = results[name][kind]
            cells.append(f"{p50:7.2f} / {p95:6.2f} {'ok' if p95 < TARGET_MS else 'SLOW':>4}")
        print(f"{kind:34}" + "".join(f"{cell:>24}" for cell in cells))


def main() -> None:
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-kb-") as folder:
        results["SQLite FTS5"] = run("SQLite FTS5", f"sqlite:///{Path(folder) / 'kb.db'}")
    with scratch_postgres("kb") as url:
        if url is not None:
            results["PostgreSQL"] = run("PostgreSQL", url)
    report(results)


if __name__ == "__main__":
    main()
