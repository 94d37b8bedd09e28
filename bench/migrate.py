"""Benchmark: tickets moved to a new version of their process per second, on SQLite and PostgreSQL.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.migrate [--tickets N]       (or: .venv/bin/python bench/migrate.py)

For each database (a temporary SQLite file; a scratch PostgreSQL database, dropped afterwards) the run
migrates a fresh schema, deploys the bundled diagram, opens one ticket through the real engine (it waits at
classification), clones it in bulk into N tickets (``clone_ticket``: the ticket row with its workflow state
and its ready worklist row, every task id made unique), and deploys a second version in which the
classification task is renamed. Then ``Migrations.run`` (what ``ticketflow migrate --all`` runs) assesses
every ticket (the dry run) and moves every ticket (the real run: one transaction each, with its
``definition_migrated`` event and relabelled worklist row). Printed side by side: tickets per second of
each (wall clock), with this process's CPU seconds (the database server's are not in it). With the default
2,000 tickets the runtime's workflow cache (512 tickets) kept by the dry run is evicted before the real run
reaches those tickets, so the real run restores every workflow from its stored state, as a real one does.
PostgreSQL is skipped, with the reason, when it does not answer (TICKETFLOW_TEST_POSTGRES_URL).
The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree  # noqa: E402
from sqlalchemy import Table, func, select, text  # noqa: E402

from bench.scratch import migrated_runtime, scratch_postgres  # noqa: E402
from engine.access import Actor  # noqa: E402
from engine.process.definitions import read_bundle  # noqa: E402
from engine.process.lint import NS  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store.models import HumanTask, Ticket  # noqa: E402
from engine.usecases.migrations import MigrationRequest, Migrations  # noqa: E402
from engine.usecases.tickets import TicketIntake  # noqa: E402
from ticketflow.composition import BUNDLED_DIAGRAM, deploy_file  # noqa: E402

OWNER = Actor("bench", "process_owner")
CUSTOMER = Actor("bench-customer", "customer")
DEFAULT_TICKETS = 2000
_UUID = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def renamed_classification(name: str = "Classify the request") -> tuple[bytes, dict[str, bytes]]:
    """The bundled diagram (and its forms) with the classification task renamed: a version tickets can move to."""
    bpmn, forms = read_bundle(BUNDLED_DIAGRAM)
    root = etree.fromstring(bpmn)
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), forms


class _Renumbered:
    """A workflow state split at its task ids, so each copy gets fresh ones cheaply."""

    def __init__(self, state: str) -> None:
        self.parts = _UUID.split(state)  # odd indexes are the ids

    def copy(self) -> tuple[str, dict[str, str]]:
        """A copy with every id replaced by a new one; and old id -> new id."""
        fresh: dict[str, str] = {}
        parts = list(self.parts)
        for i in range(1, len(parts), 2):
            parts[i] = fresh.setdefault(parts[i], str(uuid.uuid4()))
        return "".join(parts), fresh


def clone_ticket(runtime: Runtime, number: str, count: int) -> list[str]:
    """Insert ``count`` copies of a waiting ticket (row, workflow state, ready worklist rows) in one transaction,
    each with its own task ids and an empty history; return their numbers."""
    with runtime.uow() as uow:
        session = uow.session
        tickets, tasks = cast(Table, Ticket.__table__), cast(Table, HumanTask.__table__)
        original = dict(session.execute(select(tickets).where(tickets.c.number == number)).mappings().one())
        ready = [dict(r) for r in session.execute(select(tasks).where(
            tasks.c.ticket_id == original["id"], tasks.c.state == "ready")).mappings()]
        first = (session.scalar(select(func.max(tickets.c.id))) or 0) + 1
        state = _Renumbered(original["workflow"])
        ticket_rows, task_rows = [], []
        for ticket_id in range(first, first + count):
            workflow, fresh = state.copy()
            ticket_rows.append({**original, "id": ticket_id, "number": f"T-{ticket_id:06d}", "workflow": workflow,
                                "version": 1, "history_seq": 0, "history_head": "0" * 64})
            task_rows += [{**row, "id": fresh[row["id"]], "ticket_id": ticket_id} for row in ready]
        session.execute(tickets.insert(), ticket_rows)
        session.execute(tasks.insert(), task_rows)
        if session.get_bind().dialect.name == "postgresql":  # ids were given: move the sequence past them
            session.execute(text("SELECT setval(pg_get_serial_sequence('ticket', 'id'), (SELECT max(id) FROM ticket))"))
        uow.commit()
    return [str(row["number"]) for row in ticket_rows]


@dataclass(frozen=True)
class Rate:
    tickets: int
    seconds: float
    cpu_seconds: float  # this process's CPU time: a figure less sensitive to a busy machine than the wall clock

    @property
    def per_second(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0


def _intake() -> TicketIntake:
    return TicketIntake(subject="Cannot log in after password reset", customer=CUSTOMER.name,
                        description="The login page says 'invalid token' since I reset my password.",
                        contact={"email": "bench-customer@example.com"})


@contextmanager
def seeded(url: str, count: int) -> Iterator[Runtime]:
    """A runtime over ``url`` with ``count`` tickets waiting on version 1 and version 2 deployed (not active)."""
    runtime = migrated_runtime(url)
    try:
        deploy_file(runtime)
        clone_ticket(runtime, runtime.open_ticket(_intake(), CUSTOMER).number, count - 1)
        bpmn, forms = renamed_classification()
        runtime.deploy(bpmn, forms, OWNER, activate=False)
        yield runtime
    finally:
        runtime.close()


def timed_run(runtime: Runtime, dry_run: bool) -> Rate:
    """Assess (dry run) or move every open ticket from version 1 to version 2."""
    request = MigrationRequest("support_ticket", 1, 2, dry_run=dry_run)
    began, cpu = time.perf_counter(), time.process_time()
    moves = Migrations(runtime).run(request, OWNER)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    expected = "movable" if dry_run else "moved"
    wrong = [m for m in moves if m.outcome != expected]
    if wrong:
        print(f"  unexpected: {wrong[0]}")
    return Rate(len(moves), seconds, cpu)


def measure(url: str, count: int) -> dict[str, Rate]:
    with seeded(url, count) as runtime:
        return {"dry run": timed_run(runtime, True), "real run": timed_run(runtime, False)}


def report(results: dict[str, dict[str, Rate]]) -> None:
    databases = list(results)
    print(f"{'':<10}" + "".join(f"{name:>34}" for name in databases))
    for kind in ("dry run", "real run"):
        cells = [results[db][kind] for db in databases]
        print(f"{kind:<10}" + "".join(
            f"{f'{c.per_second:,.0f}/s ({c.tickets} in {c.seconds:.1f} s, CPU {c.cpu_seconds:.1f} s)':>34}"
            for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=DEFAULT_TICKETS, help="tickets to migrate per database")
    args = parser.parse_args(argv)
    print(f"Migration: {args.tickets} tickets waiting at classification, version 1 -> 2 (the task renamed)")
    results: dict[str, dict[str, Rate]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite"] = measure(f"sqlite:///{Path(folder) / 'migrate.db'}", args.tickets)
    with scratch_postgres("migrate") as url:
        if url is not None:
            results["PostgreSQL"] = measure(url, args.tickets)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
