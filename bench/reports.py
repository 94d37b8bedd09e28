"""Benchmark: the summary report over 100,000 tickets and 3 million history events, on SQLite and PostgreSQL.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.reports        (or: .venv/bin/python bench/reports.py)

For each database (a temporary SQLite file; a scratch PostgreSQL database, dropped afterwards) the run migrates
a fresh schema, bulk-loads the rows of ``bench.report_data`` (a realistic mix of paths over two years; COPY on
PostgreSQL, executemany on SQLite; then ANALYZE), prints the query plans of the report's heaviest statements, and
times ``ReportService.summary`` (what ``GET /api/v1/reports/summary`` runs) over the last 30 days and the last
year, with and without a unit filter: p50 and p95 of ``ROUNDS`` runs after a warm-up, side by side with the
500 ms target. PostgreSQL is skipped, with the reason, when it does not answer (TICKETFLOW_TEST_POSTGRES_URL).
If ``bench.kb_search`` exists its ``main()`` runs at the end, so one run prints both figures of the issue.
The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import importlib
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import report_data as data  # noqa: E402
from bench.scratch import migrated_runtime, scratch_postgres  # noqa: E402
from engine.access import Actor  # noqa: E402
from engine.config import EngineConfig  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.usecases.reports import ReportQuery, ReportService  # noqa: E402
from ticketflow.composition import deploy_file, make_runtime  # noqa: E402

ROUNDS = 15
READER = Actor("bench", "process_owner")
TARGET_MS = 500.0
TODAY = data.REFERENCE.date() - timedelta(days=1)
CASES = {"30 days": ReportQuery((TODAY - timedelta(days=29)).isoformat(), TODAY.isoformat()),
         "1 year": ReportQuery((TODAY - timedelta(days=364)).isoformat(), TODAY.isoformat()),
         "1 year, one unit": ReportQuery((TODAY - timedelta(days=364)).isoformat(), TODAY.isoformat(), "billing")}
PLANNED = {  # the statements whose plans are printed (the same shapes engine.store.reports runs)
    "closed cohort": "SELECT count(*), sum(reminders) FROM ticket WHERE closed_at >= :start AND closed_at < :end",
    "opened per day": "SELECT count(*) FROM ticket WHERE opened_at >= :start AND opened_at < :end",
    "open at start": "SELECT count(*) FROM ticket WHERE opened_at < :start AND (closed_at IS NULL OR "
                     "closed_at >= :start)",
}


def load(url: str) -> dict[str, float]:
    """Migrate, deploy the diagram (tickets need a definition) and bulk-load; seconds per table."""
    runtime = migrated_runtime(url)
    deploy_file(runtime)
    runtime.close()
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        return _load_rows(raw.driver_connection, engine.dialect.name == "postgresql")
    finally:
        raw.close()
        engine.dispose()


def _load_rows(connection: Any, postgres: bool) -> dict[str, float]:
    writer = _copy if postgres else _insert
    if not postgres:
        connection.execute("PRAGMA synchronous=OFF")
    connection.execute("INSERT INTO unit (code, name, first_response, response_window) VALUES "
                       + ", ".join(f"('{code}', '{code.title()}', 'PT4H', 'P5D')"
                                   for code, _ in data.UNITS[1:]))
    definition = connection.execute("SELECT min(id) FROM process_definition").fetchone()[0]
    timings: dict[str, float] = {}
    batches, shape = data.tickets(definition)
    with _timed(timings, "tickets"):
        writer(connection, "ticket", data.TICKET_COLUMNS, batches)
    with _timed(timings, "history events"):
        writer(connection, "history_event", data.EVENT_COLUMNS, data.events(shape))
    articles, uses, deflections = data.knowledge(shape)
    with _timed(timings, "knowledge base"):
        writer(connection, "kb_article", data.ARTICLE_COLUMNS, iter([articles]))
        writer(connection, "kb_article_use", data.USE_COLUMNS, iter([uses]))
        writer(connection, "kb_deflection", data.DEFLECTION_COLUMNS, iter([deflections]))
    with _timed(timings, "analyze"):
        if postgres:
            connection.commit()
            connection.autocommit = True
            connection.execute("VACUUM ANALYZE")  # what autovacuum does soon after a load
        else:
            connection.execute("ANALYZE")
    return timings


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started


def _copy(connection: Any, table: str, columns: tuple[str, ...], batches: Iterator[list[tuple[Any, ...]]]) -> None:
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for batch in batches:
            for row in batch:
                copy.write_row(row)
    connection.commit()


def _insert(connection: Any, table: str, columns: tuple[str, ...], batches: Iterator[list[tuple[Any, ...]]]) -> None:
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.execute("BEGIN")
    for batch in batches:
        connection.executemany(statement, [tuple(_sqlite_value(v) for v in row) for row in batch])
    connection.execute("COMMIT")


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite: UTC datetimes as naive ISO text with microseconds."""
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def plans(url: str) -> dict[str, list[str]]:
    """EXPLAIN of each statement in ``PLANNED`` over the last year."""
    from sqlalchemy import text

    engine = make_engine(url)
    start, end = data.REFERENCE - timedelta(days=365), data.REFERENCE
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    found = {}
    with engine.connect() as connection:
        for name, sql in PLANNED.items():
            rows = connection.execute(text(prefix + sql), {"start": start, "end": end}).all()
            found[name] = [str(row[-1]) for row in rows]
    engine.dispose()
    return found


def timings(url: str) -> dict[str, tuple[float, float]]:
    """p50 and p95 in ms of the summary report for each case."""
    runtime = make_runtime(EngineConfig(database_url=url))
    service = ReportService(runtime)
    found = {}
    for name, query in CASES.items():
        service.summary(READER, query)  # warm-up: connections, statement caches
        samples = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            service.summary(READER, query)
            samples.append((time.perf_counter() - started) * 1000)
        found[name] = (statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[-1])
    runtime.close()
    return found


def run(label: str, url: str) -> dict[str, tuple[float, float]]:
    print(f"\n{label}: loading {data.TICKETS:,} tickets and {data.EVENTS:,} history events ...", flush=True)
    loaded = load(url)
    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in loaded.items()))
    for name, lines in plans(url).items():
        print(f"  plan, {name}:")
        for line in lines:
            print(f"    {line}")
    return timings(url)


def report(results: dict[str, dict[str, tuple[float, float]]]) -> None:
    print(f"\nSummary report, {data.TICKETS:,} tickets over {data.SPAN_DAYS} days, up to {TODAY}: "
          f"milliseconds, p50 / p95 of {ROUNDS} runs (target: under {TARGET_MS:.0f} ms)")
    names = list(results)
    print(f"  {'range':<18}" + "".join(f"{name:>24}" for name in names) + "   verdict")
    for case in CASES:
        cells = [results[name][case] for name in names]
        verdict = "meets target" if all(p95 < TARGET_MS for _, p95 in cells) else "MISSES target"
        print(f"  {case:<18}" + "".join(f"{p50:>14.1f} / {p95:>7.1f}" for p50, p95 in cells) + f"   {verdict}")


def main() -> None:
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-reports-") as folder:
        results["SQLite"] = run("SQLite", f"sqlite:///{Path(folder) / 'reports.db'}")
    with scratch_postgres("reports") as url:
        if url is not None:
            results["PostgreSQL"] = run("PostgreSQL", url)
    report(results)
    if importlib.util.find_spec("bench.kb_search") is not None:
        importlib.import_module("bench.kb_search").main()  # the KB search benchmark: one run prints both


if __name__ == "__main__":
    main()
