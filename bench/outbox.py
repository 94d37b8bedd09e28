"""Benchmark: messages delivered per second from the outbox to a local SMTP sink (aiosmtpd on loopback).

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.outbox        (or: .venv/bin/python bench/outbox.py)

Tickets are opened through the real engine (each queues its acknowledgment), then the outbox is delivered
by ``OutboxDelivery`` over ``SmtpTransport``, exactly as ``ticketflow worker`` does: claim a batch under a
lease, send each message over one kept SMTP connection, settle each in its own transaction with an event in
the ticket's history. Three setups: SQLite with one worker, PostgreSQL with one worker and with two (two
processes, so they do not share one interpreter lock). Each round puts every message back to pending first;
the figure is messages over the wall time from the first worker's start to the last one's end, the median of
rounds. PostgreSQL is skipped, with a note, when TICKETFLOW_TEST_POSTGRES_URL does not answer.

Then, on the same databases, email in (``bench.ingest``): 1,000 messages through ``EmailIntake.receive`` as
``ticketflow mail ingest`` takes them (about half new tickets, half replies threaded to earlier ones, a few
auto-replies and bounces), one process, one run; messages per second with the time per message by kind.
The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MESSAGES = 300
ROUNDS = 3
BATCH = 10
POSTGRES = os.environ.get("TICKETFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def prepare(url: str) -> None:
    """Migrate ``url``, deploy the diagram and open MESSAGES tickets (one acknowledgment each)."""
    from bench.scratch import migrated_runtime
    from tests.conftest import CUSTOMER, intake
    from ticketflow.composition import deploy_file

    runtime = migrated_runtime(url)
    deploy_file(runtime)
    for n in range(MESSAGES):
        runtime.open_ticket(intake(subject=f"Benchmark ticket {n}"), CUSTOMER)
    runtime.close()


def reset(url: str) -> None:
    """Every message pending again, as if just queued."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET state = 'pending', attempts = 0, locked_until = NULL, "
                                "claimed_by = NULL, sent_at = NULL, next_attempt_at = created_at"))
    engine.dispose()


def worker(url: str, port: int, ready: Any, go: Any, results: Any) -> None:
    """One worker process: build a runtime, wait for the start, deliver everything due, report its times."""
    from engine.config import EngineConfig
    from engine.usecases.outbox import OutboxDelivery
    from mail.settings import MailSettings, SmtpServer
    from mail.smtp import SmtpTransport
    from ticketflow.composition import make_runtime

    runtime = make_runtime(EngineConfig(database_url=url))
    settings = MailSettings("Bench <bench@bench.example>", SmtpServer("127.0.0.1", port, "plain"), 10.0)
    delivery = OutboxDelivery(runtime, SmtpTransport(settings), batch=BATCH)
    ready.wait()
    go.wait()
    start = time.perf_counter()
    delivered = len(delivery.deliver_due().delivered)
    results.put((start, time.perf_counter(), delivered))
    runtime.close()


def measure(url: str, port: int, workers: int) -> tuple[float, int]:
    """(messages per second, messages delivered) of one round with ``workers`` processes."""
    reset(url)
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Barrier(workers + 1), context.Event(), context.Queue()
    processes = [context.Process(target=worker, args=(url, port, ready, go, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    go.set()
    times = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    delivered = sum(t[2] for t in times)
    elapsed = max(t[1] for t in times) - min(t[0] for t in times)
    return delivered / elapsed, delivered


def scratch_postgres() -> str | None:
    """A fresh PostgreSQL database's URL, or None (with a note) when the server does not answer."""
    try:
        import psycopg

        name = f"ticketflow_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return POSTGRES.rsplit("/", 1)[0] + "/" + name
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL for this run
        print(f"PostgreSQL skipped: {POSTGRES} does not answer ({str(exc).splitlines()[0][:120]})")
        return None


def drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def report(label: str, url: str, port: int, workers: int) -> None:
    rates = []
    for _ in range(ROUNDS):
        rate, delivered = measure(url, port, workers)
        if delivered != MESSAGES:
            print(f"  warning: {delivered} of {MESSAGES} messages delivered in a round")
        rates.append(rate)
    print(f"{label:<34} {statistics.median(rates):>8.0f} messages/s  (rounds: "
          f"{', '.join(f'{r:.0f}' for r in rates)})")


def report_ingest(label: str, url: str) -> None:
    from bench.ingest import ingest

    print(ingest(url).line(label))


def main() -> int:
    from bench.ingest import MESSAGES as MAIL_IN
    from tests.integration.mail_sink import SmtpSink

    print(f"Outbox delivery to a local aiosmtpd sink: {MESSAGES} messages, batches of {BATCH}, "
          f"median of {ROUNDS} rounds; then email in: {MAIL_IN} messages through EmailIntake.receive, one run")
    sink = SmtpSink()
    sink.sink.parse = False
    sink.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            sqlite = f"sqlite:///{directory}/bench.db"
            prepare(sqlite)
            report("SQLite, 1 worker", sqlite, sink.port, 1)
            report_ingest("SQLite, email in", sqlite)
        postgres = scratch_postgres()
        if postgres is not None:
            try:
                prepare(postgres)
                report("PostgreSQL, 1 worker", postgres, sink.port, 1)
                report("PostgreSQL, 2 workers (processes)", postgres, sink.port, 2)
                report_ingest("PostgreSQL, email in", postgres)
            finally:
                drop_postgres(postgres)
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
