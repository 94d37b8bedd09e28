"""Benchmark: bytes per closed ticket, by path and by part, on SQLite and PostgreSQL, before and after archiving.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.storage [--tickets N] [--sqlite-only]

Each path gets a fresh, migrated database with the bundled diagram deployed. ``N`` tickets (500 by default,
enough to divide the fixed costs of pages and indexes away) are driven through the real runtime with a fake
clock, each use case inside a request id as the web layer sets one, so the history carries what it carries
in production. The paths:

- ``l1_direct``: classified, resolved at first level, confirmed by the customer;
- ``escalated``: escalated to L2, investigated, fixed, confirmed;
- ``persists``: escalated, then once round the "issue persists" loop before the customer confirms;
- ``reminders``: resolved at first level, then the customer stays silent through the reminders until the
  follow-up call is on L1's worklist; L1 records the call, then the customer confirms.

Every message the tickets queued is then delivered (a stand-in transport accepts each), as the worker would.
The database is compacted (SQLite ``VACUUM``, PostgreSQL ``VACUUM FULL``) and measured per table and index:
SQLite's ``dbstat`` table (allocated page bytes; the file size when ``dbstat`` is missing), PostgreSQL's
``pg_table_size`` (heap and TOAST) and ``pg_indexes_size``. The growth over the empty database, divided by
``N``, is broken down into the ticket row, history events, worklist rows, outbox, conversation and other
(knowledge drafts made at closing, which are the knowledge base's, not the ticket's), with the largest columns
on their own. Then ``ticketflow archive --older-than 0`` runs and the same figures are taken again.

The target: an L1-direct closed ticket takes at most 12 KB all told (its own parts: ticket, history, worklist,
outbox, conversation). With ``--before PATHS`` (default ``l1_direct``) those paths are also run on the engine as
it stored tickets before the storage change (``before``). The exit code is always 0: a benchmark reports, it
never fails the build.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import (  # noqa: E402
    ACTORS,
    INTAKE,
    L1_DIRECT,
    PERSISTS_LOOP,
    RESOLVED,
    START,
    TO_PERSISTS_LOOP,
    Step,
    ensure_repo_importable,
)
from bench.scratch import scratch_postgres  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from engine.runtime import Runtime
    from engine.views import TicketView

TARGET_BYTES = 12 * 1024  # an L1-direct closed ticket, all told
TICKETS = 500
GROUPS = {"ticket": ("ticket",), "history": ("history_event",), "worklist": ("human_task",),
          "outbox": ("outbox", "webhook_attempt"), "conversation": ("conversation_entry", "conversation_attachment")}
OWN = tuple(GROUPS)  # the ticket's own parts; "other" is everything else that grew
COLUMNS = (("ticket", "workflow"), ("history_event", "data"), ("history_event", "packed"), ("history_event", "hash"),
           ("history_event", "prev_hash"), ("outbox", "body"), ("outbox", "html"))
FOLLOW_UP = {"follow_up_channel": "phone", "follow_up_outcome": "will_test",
             "follow_up_notes": "Called the customer; they will test this afternoon and answer."}
REMINDER_ROUNDS = 8  # timers fired at most, waiting for the follow-up call


# -- driving tickets -------------------------------------------------------------------------------
class Driver:
    """The runtime over one database, each call made inside a request id as over HTTP."""

    def __init__(self, url: str, revision: str = "head") -> None:
        from engine.access import Actor
        from engine.config import EngineConfig
        from engine.execution.clock import FakeClock
        from engine.store.db import upgrade
        from ticketflow.composition import deploy_file, make_runtime

        upgrade(url, revision)
        self.clock = FakeClock(START)
        self.runtime: Runtime = make_runtime(EngineConfig(database_url=url), self.clock)
        deploy_file(self.runtime)
        self.actors = {key: Actor(name, role) for key, (name, role) in ACTORS.items()}

    def call(self, use: Callable[[], Any]) -> Any:
        from engine.context import begin_request, end_request

        _, token = begin_request()
        try:
            return use()
        finally:
            end_request(token)

    def open(self) -> TicketView:
        from engine.usecases.tickets import TicketIntake

        return self.call(lambda: self.runtime.open_ticket(TicketIntake(**INTAKE), self.actors["customer"]))  # type: ignore[no-any-return]

    def complete(self, view: TicketView, step: Step) -> TicketView:
        task = next((t for t in view.ready_tasks if t.element_id == step.element), None)
        if task is None:
            ready = [t.element_id for t in view.ready_tasks]
            raise RuntimeError(f"{view.number}: {step.element} is not ready ({ready})")
        return self.call(lambda: self.runtime.complete_task(task.id, step.form, self.actors[step.actor]))  # type: ignore[no-any-return]

    def play(self, view: TicketView, steps: tuple[Step, ...]) -> TicketView:
        for step in steps:
            view = self.complete(view, step)
        return view

    def silent_until_follow_up(self, view: TicketView) -> TicketView:
        """Fire the reminders one after another until the follow-up call is on L1's worklist."""
        for _ in range(REMINDER_ROUNDS):
            if any(t.element_id == "follow_up_with_customer" for t in view.ready_tasks) or view.next_timer_at is None:
                break
            self.clock.now = max(self.clock.now, view.next_timer_at + timedelta(seconds=1))
            self.call(self.runtime.fire_due_timers)
            view = self.runtime.get_ticket(view.number)
        return self.complete(view, Step("follow_up_with_customer", FOLLOW_UP, "l1"))

    def deliver(self) -> int:
        from engine.usecases.outbox import OutboxDelivery

        return len(OutboxDelivery(self.runtime, AcceptingTransport(), batch=200).deliver_due().delivered)

    def close(self) -> None:
        self.runtime.sessions.kw["bind"].dispose()


class AcceptingTransport:
    """Accepts every message, as a mail server that answers 250 would."""

    send_budget = timedelta(seconds=30)

    def deliver(self, item: Any) -> str:
        return "250 2.0.0 queued"

    def close(self) -> None:
        return None


def l1_direct(driver: Driver) -> TicketView:
    return driver.play(driver.open(), L1_DIRECT)


def escalated(driver: Driver) -> TicketView:
    return driver.play(driver.play(driver.open(), TO_PERSISTS_LOOP), (Step("test_and_confirm", RESOLVED, "customer"),))


def persists(driver: Driver) -> TicketView:
    view = driver.play(driver.open(), TO_PERSISTS_LOOP)
    return driver.play(view, (*PERSISTS_LOOP, Step("test_and_confirm", RESOLVED, "customer")))


def reminders(driver: Driver) -> TicketView:
    view = driver.play(driver.open(), L1_DIRECT[:3])
    view = driver.silent_until_follow_up(view)
    return driver.complete(view, Step("test_and_confirm", RESOLVED, "customer"))


PATHS: dict[str, Callable[[Driver], TicketView]] = {
    "l1_direct": l1_direct, "escalated": escalated, "persists": persists, "reminders": reminders}


# -- measuring -------------------------------------------------------------------------------------
@dataclass
class Sizes:
    """Bytes per table (its rows, and its indexes) and per measured column."""

    tables: dict[str, int]
    indexes: dict[str, int]
    columns: dict[str, int]
    events: int = 0

    def minus(self, base: Sizes, count: int) -> Sizes:
        def per(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
            return {k: max(0, v - then.get(k, 0)) // count for k, v in now.items()}
        return Sizes(per(self.tables, base.tables), per(self.indexes, base.indexes), per(self.columns, base.columns),
                     (self.events - base.events) // count)

    def group(self, name: str) -> tuple[int, int]:
        tables = GROUPS.get(name) or tuple(t for t in self.tables if not any(t in g for g in GROUPS.values()))
        return sum(self.tables.get(t, 0) for t in tables), sum(self.indexes.get(t, 0) for t in tables)

    @property
    def own(self) -> int:
        return sum(sum(self.group(g)) for g in OWN)


def measure(engine: Engine) -> Sizes:
    return measure_sqlite(engine) if engine.dialect.name == "sqlite" else measure_postgres(engine)


def measure_sqlite(engine: Engine) -> Sizes:
    import sqlite3

    connection = sqlite3.connect(str(engine.url.database), isolation_level=None)  # VACUUM needs no transaction
    try:
        connection.execute("VACUUM")
        owner = dict(connection.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        try:
            pages = connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # a SQLite built without dbstat: the whole file, as one table
            pages = connection.execute("SELECT '(file)', page_count * page_size FROM pragma_page_count(), "
                                       "pragma_page_size()").fetchall()
            owner["(file)"] = "(file)"
        tables: dict[str, int] = {}
        indexes: dict[str, int] = {}
        for name, size in pages:
            table = owner.get(name, name)
            bucket = tables if table == name else indexes
            bucket[table] = bucket.get(table, 0) + int(size)
        columns = {f"{t}.{c}": int(connection.execute(
            f"SELECT COALESCE(SUM(LENGTH(CAST({c} AS BLOB))), 0) FROM {t}").fetchone()[0]) for t, c in COLUMNS}
        events = int(connection.execute("SELECT COUNT(*) FROM history_event").fetchone()[0])
    finally:
        connection.close()
    return Sizes(tables, indexes, columns, events)


def measure_postgres(engine: Engine) -> Sizes:
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM FULL ANALYZE"))
        rows = connection.execute(text(
            "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")).all()
        columns = {f"{t}.{c}": int(connection.execute(text(
            f"SELECT COALESCE(SUM(pg_column_size({c})), 0) FROM {t}")).scalar() or 0) for t, c in COLUMNS}
        events = connection.execute(text("SELECT COUNT(*) FROM history_event")).scalar() or 0
    return Sizes({r[0]: int(r[1]) for r in rows}, {r[0]: int(r[2]) for r in rows}, columns, int(events))


# -- running ---------------------------------------------------------------------------------------
@dataclass
class PathFigures:
    path: str
    tickets: int
    closed: Sizes
    archived: Sizes


BEFORE_SCHEMA = "0019"  # the last schema with a surrogate id per event and hashes as hex text


@contextmanager
def previous_engine(url: str) -> Iterator[None]:
    """The engine as it stored tickets before the storage change, run on the schema as it was (``BEFORE_SCHEMA``):
    a closed ticket kept its finished workflow state, every digest event recorded every variable's digest, every
    event stored its predecessor's whole hash, its own as hex and its data as plain JSON. (Only the request id, now
    written once per request, is not put back.)"""
    from engine.execution import workflow_state
    from engine.execution.steps import Execution
    from engine.store import history, tickets

    kept = (Execution._stored_state, Execution._digest_changes, history.link, tickets.stored_data,
            tickets._SQL_INSERT_EVENT)
    Execution._stored_state = lambda self: workflow_state.dump(self.workflow)  # type: ignore[method-assign]
    Execution._digest_changes = lambda self, whole: whole  # type: ignore[method-assign, assignment, return-value]
    history.link = lambda predecessor: predecessor
    tickets.stored_data = lambda data_json: (data_json, None)
    # The hash arrives as its bytes; that schema's column takes it as hex text.
    head, _ = tickets._SQL_INSERT_EVENT.rsplit("?", 1)
    as_hex = "encode(?, 'hex')" if url.startswith("postgresql") else "lower(hex(?))"
    tickets._SQL_INSERT_EVENT = f"{head}{as_hex})"
    try:
        yield
    finally:
        (Execution._stored_state, Execution._digest_changes, history.link,  # type: ignore[method-assign]
         tickets.stored_data, tickets._SQL_INSERT_EVENT) = kept


def run_path(url: str, path: str, tickets: int, previous: bool = False) -> PathFigures:
    with previous_engine(url) if previous else nullcontext():
        return _run_path(url, path, tickets, BEFORE_SCHEMA if previous else "head")


def _run_path(url: str, path: str, tickets: int, revision: str) -> PathFigures:
    from engine.usecases.archive import ArchiveService

    driver = Driver(url, revision)
    try:
        engine = driver.runtime.sessions.kw["bind"]
        base = measure(engine)
        play = PATHS[path]
        for _ in range(tickets):
            if (view := play(driver)).status != "closed":
                raise RuntimeError(f"{view.number} ended {view.status} on the {path} path")
        driver.deliver()
        closed = measure(engine).minus(base, tickets)
        driver.clock.now += timedelta(days=1)
        ArchiveService(driver.runtime).archive(timedelta(0))
        archived = measure(engine).minus(base, tickets)
        return PathFigures(path, tickets, closed, archived)
    finally:
        driver.close()


def kb(value: int) -> str:
    return f"{value / 1024:6.1f}"


def print_figures(kind: str, figures: PathFigures, previous: PathFigures | None = None) -> None:
    shown = [("closed", figures.closed), ("archived", figures.archived)]
    if previous is not None:
        shown.insert(0, ("before", previous.closed))  # closed, on the engine before the storage change
    for label, sizes in shown:
        parts = "  ".join(f"{g} {kb(sum(sizes.group(g))).strip()}" for g in (*OWN, "other"))
        verdict = ""
        if figures.path == "l1_direct":
            verdict = "  target <= 12.0 KB: " + ("met" if sizes.own <= TARGET_BYTES else "NOT met")
        print(f"{kind:<10} {figures.path:<10} {label:<8} {kb(sizes.own)} KB per ticket "
              f"({sizes.events} events)  [{parts}]{verdict}")
    closed = figures.closed
    print(" " * 21 + "closed: rows/indexes KB  " + "  ".join(
        f"{g} {kb(closed.group(g)[0]).strip()}/{kb(closed.group(g)[1]).strip()}" for g in OWN))
    print(" " * 21 + "closed: columns bytes   " + "  ".join(f"{k} {v}" for k, v in closed.columns.items()))


def main(argv: list[str] | None = None) -> None:
    ensure_repo_importable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=TICKETS, help="tickets per path (default %(default)s)")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated paths to run")
    parser.add_argument("--before", default="l1_direct",
                        help="comma-separated paths also run on the engine as it was before the storage change")
    args = parser.parse_args(argv)
    print(f"Storage per closed ticket: {args.tickets} tickets per path, growth over an empty database; "
          "KB = 1024 bytes.\nbefore: closed, on the engine before the storage change (kept workflow state, every "
          "digest each time); closed: now; archived: after `ticketflow archive --older-than 0`")
    for kind, make in _kinds(args.sqlite_only):
        for path in args.paths.split(","):
            previous = None
            if path in args.before.split(","):
                with make(path + "_before") as url:
                    if url is None:
                        break
                    previous = run_path(url, path, args.tickets, previous=True)
            with make(path) as url:
                if url is None:
                    break
                print_figures(kind, run_path(url, path, args.tickets), previous)


def _kinds(sqlite_only: bool) -> list[tuple[str, Callable[[str], Any]]]:
    @contextmanager
    def sqlite(purpose: str) -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix="ticketflow-storage-") as folder:
            yield f"sqlite:///{folder}/{purpose}.db"
    kinds: list[tuple[str, Callable[[str], Any]]] = [("SQLite", sqlite)]
    if not sqlite_only:
        kinds.append(("PostgreSQL", scratch_postgres))
    return kinds


if __name__ == "__main__":
    main()
