"""A worker that keeps going: database errors are logged and retried, never the end of the worker; it
stops only when asked (SIGTERM/SIGINT, or its stop event), after the ticket in hand."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from engine.config import EngineConfig
from engine.execution.clock import FakeClock
from engine.runtime import Runtime, build_runtime
from engine.store.db import make_engine, session_factory
from mail.compose import TemplateComposer
from tasks import build_registry
from tests.conftest import CUSTOMER, intake
from tests.integration.helpers import escalate_to_validation, kinds
from ticketflow.composition import deploy_file
from ticketflow.worker import run_worker

REPO = Path(__file__).resolve().parents[2]


def impatient_runtime(url: str, clock: FakeClock) -> Runtime:
    """A runtime whose SQLite connections give up on a held lock after 0.2 s (instead of 30 s)."""
    config = EngineConfig(database_url=url)
    return build_runtime(session_factory(make_engine(url, busy_timeout=0.2)), build_registry(),
                         config.lane_roles, clock, composer=TemplateComposer())


def reminder_due(runtime: Runtime, clock: FakeClock) -> str:
    """A ticket waiting for its customer, its reminder due now."""
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    due = runtime.get_ticket(number).next_timer_at
    assert due is not None
    clock.now = due + timedelta(seconds=1)
    return number


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start_worker(runtime: Runtime, reports: list[str]) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(runtime, 0.05, False, reports.append, stop), daemon=True)
    thread.start()
    return thread, stop


def test_the_worker_outlives_a_locked_sqlite_database_and_fires_the_timer_once_it_is_free(
        sqlite_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    runtime = impatient_runtime(sqlite_url, clock)
    deploy_file(runtime)
    number = reminder_due(runtime, clock)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    reports: list[str] = []
    thread, stop = start_worker(runtime, reports)
    try:
        assert wait_until(lambda: "database is locked" in caplog.text), "the worker never met the lock"
        assert thread.is_alive() and "timer_fired" not in kinds(runtime, number)
        holder.execute("ROLLBACK")
        assert wait_until(lambda: any(number in line for line in reports)), caplog.text
        assert "timer_fired" in kinds(runtime, number)
    finally:
        stop.set()
        thread.join(timeout=10)
        holder.close()
        runtime.close()
    assert not thread.is_alive()


@pytest.mark.postgres
def test_the_worker_outlives_its_postgresql_backend_being_killed(postgres_url: str, clock: FakeClock) -> None:
    runtime = impatient_runtime(postgres_url, clock)
    deploy_file(runtime)
    reports: list[str] = []
    thread, stop = start_worker(runtime, reports)
    admin = psycopg.connect(postgres_url, autocommit=True)
    database = postgres_url.rsplit("/", 1)[1]
    try:
        assert wait_until(lambda: admin.execute(  # the worker is connected and working
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,)).fetchone()[0] > 0)
        killed = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()) AS t", (database,)).fetchone()[0]
        assert killed > 0
        time.sleep(0.3)
        assert thread.is_alive()
        number = reminder_due(runtime, clock)  # the work that arrives after the outage is still done
        assert wait_until(lambda: any(number in line for line in reports))
        assert "timer_fired" in kinds(runtime, number)
    finally:
        stop.set()
        thread.join(timeout=10)
        admin.close()
        runtime.close()
    assert not thread.is_alive()


def test_sigterm_stops_the_worker_process_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": sqlite_url, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen([sys.executable, "-m", "ticketflow", "worker", "--interval", "0.2"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    guard = threading.Timer(60, worker.kill)  # a worker that never says it started fails, it does not hang
    guard.start()
    try:
        assert worker.stdout is not None
        started = [worker.stdout.readline()]
        while "worker started" not in started[-1] and started[-1]:  # signals are handled from then on
            started.append(worker.stdout.readline())
        assert worker.poll() is None, "".join(started)
        time.sleep(0.5)  # through a round or more
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
        output = "".join(started) + output
    finally:
        guard.cancel()
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "SIGTERM received" in output


def test_a_single_round_that_fails_says_so_and_exits_1(sqlite_url: str, clock: FakeClock,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    runtime = impatient_runtime(sqlite_url, clock)
    deploy_file(runtime)
    reminder_due(runtime, clock)
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert run_worker(runtime, 0.05, True, lambda line: None) == 1
    finally:
        holder.close()
        runtime.close()
    assert "worker round failed (database is locked" in caplog.text.replace("(sqlite3.OperationalError) ", "")


