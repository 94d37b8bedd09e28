"""Crash safety on PostgreSQL: gunicorn (2 workers) and two ``ticketflow worker`` processes are killed with SIGKILL
at random moments, many times, and restarted, while client threads play full lifecycles over HTTP with a unit whose
response window is seconds long (reminders, the in-person follow-up and SLA clocks fire during the test). Afterwards
every chain and anchor verifies, every ticket replays consistent, none is stuck, the worklist agrees with each
workflow, every queued message reached the SMTP sink under its one Message-ID, and every timer fired."""
from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from bench.load_clients import Client, Lifecycle, Script, Tokens
from engine.access import Actor
from engine.config import EngineConfig
from engine.execution import workflow_state
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import HistoryEvent, HumanTask, OutboxMessage, Ticket
from engine.store.uow import UnitOfWork
from engine.usecases.audit import AuditService
from engine.usecases.outbox import LEASE
from engine.usecases.units import UnitAdmin
from engine.usecases.users import Directory
from tests.api.test_gunicorn_problems import free_port
from tests.integration.mail_sink import SmtpSink
from ticketflow.composition import deploy_file, make_runtime

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = [Script(), Script(escalate=True, persists=1), Script(silent=True), Script(escalate=True, silent=True)]
CLIENTS = 5  # client threads, each opening tickets one after another while the storm lasts
STORM_SECONDS = 30.0
MIN_KILLS = 15
SECONDS = {"first_response": "PT6S", "resolution": "PT40S", "24x7": True}
FAST_UNIT = {  # seconds-long windows: reminders, the follow-up call and SLA clocks fire while the test runs
    "name": "General support", "time_zone": "UTC", "first_response": "PT6S", "response_window": "PT2S",
    "reminder_every": "PT2S", "follow_up_after": 2,
    "hours": {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    "targets": {p: SECONDS for p in ("P1", "P2", "P3", "P4", "P5")},
}


@dataclass
class Fleet:
    """The server processes under test, killed and restarted by the storm."""

    env: dict[str, str]
    port: int
    folder: Path
    log: Any  # one file for every process's output, closed by the fixture
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)

    def start_web(self) -> None:
        command = [str(BIN / "gunicorn"), "-c", "python:ticketflow.gunicorn", "-b", f"127.0.0.1:{self.port}",
                   "--workers", "2", "ticketflow.wsgi:app"]
        self.web = subprocess.Popen(command, cwd=self.folder, env=self.env, start_new_session=True,
                                    stdout=self.log, stderr=subprocess.STDOUT)

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen([sys.executable, "-m", "ticketflow", "worker", "--interval", "0.2"],
                                  cwd=self.folder, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def web_children(self) -> list[int]:
        assert self.web is not None
        path = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL one of: a gunicorn worker (its master forks another), all of gunicorn, a ticketflow worker."""
        choice = rng.choice(["web worker", "all of gunicorn", "ticketflow worker", "ticketflow worker"])
        children = self.web_children()
        if choice == "web worker" and children:
            os.kill(rng.choice(children), signal.SIGKILL)
        elif choice == "all of gunicorn":
            assert self.web is not None
            os.killpg(self.web.pid, signal.SIGKILL)
            self.web.wait()
            self.start_web()
        else:
            choice = "ticketflow worker"
            victim = self.workers.pop(rng.randrange(len(self.workers)))
            victim.kill()
            victim.wait()
            self.start_worker()
        self.kills[choice] += 1

    def stop(self) -> None:
        if self.web is not None and self.web.poll() is None:
            os.killpg(self.web.pid, signal.SIGTERM)
            self.web.wait(timeout=20)
        for worker in self.workers:
            worker.terminate()
            worker.wait(timeout=20)


def setup(url: str) -> tuple[Runtime, dict[str, str]]:
    """Deploy, make the general unit fast, add the people; their tokens by name."""
    runtime = make_runtime(EngineConfig(database_url=url))
    deploy_file(runtime)
    UnitAdmin(runtime).put_unit(Actor("root", "admin"), "general", FAST_UNIT)
    directory = Directory(runtime.sessions, runtime.clock)
    people: list[tuple[str, str, str | None]] = [("lena", "l1", None), ("otto", "l2", None), ("audra", "auditor", None)]
    people += [(f"cust{i}", "customer", f"cust{i}@example.com") for i in range(CLIENTS)]
    return runtime, {name: directory.add_user(name, role, email)[1] for name, role, email in people}


@pytest.fixture
def fleet(postgres_url: str, smtp: SmtpSink, tmp_path: Path) -> Iterator[Fleet]:
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": postgres_url, "TICKETFLOW_SECRET_KEY": "crash-test",
           "TICKETFLOW_VAR": str(tmp_path), "PYTHONPATH": str(REPO), "TICKETFLOW_LOG_FORMAT": "text",
           "TICKETFLOW_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "TICKETFLOW_SMTP_TIMEOUT": "5",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           "TICKETFLOW_RATE_LIMIT": "off"}  # on by default; the clients share agents' tokens at full speed
    with (tmp_path / "processes.log").open("ab") as log:
        fleet = Fleet(env, free_port(), tmp_path, log)
        try:
            yield fleet
        finally:
            fleet.stop()


def play(port: int, tokens: dict[str, str], client_no: int, jobs: Iterator[int], over: threading.Event,
         done: dict[int, str], errors: list[str]) -> None:
    """One client thread: opens ticket after ticket until the storm is over, each played to its close."""
    client = Client(port, timeout=5.0)
    mine = Tokens(tokens[f"cust{client_no}"], tokens["lena"], tokens["otto"])
    try:
        work(client, mine, jobs, over, done, errors)
    finally:
        client.close()


def work(client: Client, mine: Tokens, jobs: Iterator[int], over: threading.Event, done: dict[int, str],
         errors: list[str]) -> None:
    while not over.is_set():
        job = next(jobs)  # a shared counter: each job number once
        lifecycle = Lifecycle(client, mine, SCRIPTS[job % len(SCRIPTS)], f"Crash test ticket {job}", pause=0.1)
        try:
            done[job] = lifecycle.play(time.monotonic() + 90)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on after the storm
            errors.append(f"ticket job {job}: {exc!r}")


def storm(fleet: Fleet, rng: random.Random, runtime: Runtime) -> None:
    """Kill at random moments for STORM_SECONDS, checking after each kill that no ticket is stuck; anchor now and
    then."""
    began = time.monotonic()
    # At least MIN_KILLS, however slow the machine (each round also checks every ticket), within three storms.
    while (time.monotonic() < began + STORM_SECONDS
           or (sum(fleet.kills.values()) < MIN_KILLS and time.monotonic() < began + 3 * STORM_SECONDS)):
        time.sleep(rng.uniform(0.3, 1.5))
        fleet.kill_one(rng)
        not_stuck(runtime)
        if rng.random() < 0.25:
            AuditService(runtime).anchor(Actor("audra", "auditor"))


def test_sigkill_storm_leaves_every_ticket_correct(fleet: Fleet, postgres_url: str, smtp: SmtpSink) -> None:
    runtime, tokens = setup(postgres_url)
    try:
        audit = AuditService(runtime)
        fleet.start_web()
        fleet.start_worker()
        fleet.start_worker()
        jobs, over = itertools.count(), threading.Event()
        done: dict[int, str] = {}
        errors: list[str] = []
        clients = [threading.Thread(target=play, args=(fleet.port, tokens, i, jobs, over, done, errors), daemon=True)
                   for i in range(CLIENTS)]
        for thread in clients:
            thread.start()
        storm(fleet, random.Random(os.environ.get("CRASH_SEED", "16")), runtime)
        over.set()  # the clients finish the tickets in hand
        overdue_timers_fire(runtime)
        for thread in clients:
            thread.join(timeout=100)
        assert errors == [] and not any(c.is_alive() for c in clients), errors
        assert sum(fleet.kills.values()) >= MIN_KILLS, fleet.kills
        timers_fired(runtime, done)
        deliver_leftovers(postgres_url, runtime, smtp)
        audit.anchor(Actor("audra", "auditor"))
        check_everything(runtime, audit, smtp, sorted(done.values()))
        print(f"{len(done)} tickets through {dict(fleet.kills)} SIGKILLs, {len(smtp.sink.received)} emails received")
    finally:  # also when an assertion failed: no connection is left to the garbage collector
        runtime.close()


def not_stuck(runtime: Runtime) -> None:
    """In one snapshot: every open ticket has a ready task or a pending timer."""
    with UnitOfWork(runtime.sessions, read_only=True, snapshot=True) as uow:
        session = uow.session
        open_tickets = session.execute(select(Ticket.id, Ticket.number, Ticket.status, Ticket.next_timer_at)
                                       .where(Ticket.status != "closed")).all()
        ready = set(session.scalars(select(HumanTask.ticket_id).where(HumanTask.state == "ready")))
    stuck = [(t.number, t.status) for t in open_tickets
             if t.status == "stalled" or (t.id not in ready and t.next_timer_at is None)]
    assert stuck == []


def timers_fired(runtime: Runtime, done: dict[int, str]) -> None:
    """Every silent customer was reminded and L1 was asked to call them (both timers fired through the kills; a
    reminder whose window passed while no worker ran is sent once, not once per window missed)."""
    with runtime.uow() as uow:
        rows = uow.session.execute(select(Ticket.subject, HistoryEvent.kind, HistoryEvent.element_id)
                                   .join(HistoryEvent, HistoryEvent.ticket_id == Ticket.id)).all()
    fired = Counter((r.subject, r.element_id) for r in rows if r.kind == "timer_fired")
    called = {r.subject for r in rows if r.kind == "task_completed" and r.element_id == "follow_up_with_customer"}
    silent = {f"Crash test ticket {job}" for job in done if SCRIPTS[job % len(SCRIPTS)].silent}
    assert {s for s in silent if fired[s, "response_window_passed"] >= 1} == silent, fired
    assert {s for s in silent if fired[s, "customer_silent"] == 1} == silent, fired
    assert called == silent


def overdue_timers_fire(runtime: Runtime) -> None:
    """Once the kills stop, the restarted workers fire every timer that fell due meanwhile."""
    deadline = time.monotonic() + 20
    while True:
        with runtime.uow() as uow:
            overdue = uow.session.scalars(select(Ticket.number).where(
                Ticket.next_timer_at < runtime.clock() - timedelta(seconds=3))).all()
        if not overdue or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert overdue == []


def deliver_leftovers(url: str, runtime: Runtime, smtp: SmtpSink) -> None:
    """Messages leased by a worker that was killed go once the lease has run out: a round ten minutes on."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pending(runtime, leased=False):
        time.sleep(0.2)  # the live workers deliver what nobody holds
    later = make_runtime(EngineConfig(database_url=url), FakeClock(runtime.clock() + LEASE + timedelta(minutes=1)))
    try:
        smtp.delivery(later).deliver_due(lambda: False)
    finally:
        later.close()


def pending(runtime: Runtime, leased: bool) -> int:
    with runtime.uow() as uow:
        rows = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending")).all()
        now = runtime.clock()
        return sum(1 for r in rows if (r.locked_until is not None and r.locked_until > now) == leased)


def check_everything(runtime: Runtime, audit: AuditService, smtp: SmtpSink, numbers: list[str]) -> None:
    report = audit.verify_all()
    assert report.ok and report.tickets == len(numbers) and report.anchors >= 2, report
    for number in numbers:
        replay = audit.replay(number)
        assert replay.consistent, (number, replay.divergence and replay.divergence.to_dict())
    worklist_agrees(runtime)
    with runtime.uow() as uow:
        session = uow.session
        statuses = Counter(session.scalars(select(Ticket.status)))
        queued = [e.data["message_id"] for e in session.scalars(
            select(HistoryEvent).where(HistoryEvent.kind == "message_queued"))]  # outbox row ids
        outbox = session.execute(select(OutboxMessage.id, OutboxMessage.message_id, OutboxMessage.state)).all()
    assert statuses == {"closed": len(numbers)}
    assert sorted(queued) == sorted(row.id for row in outbox)  # one row per recorded message, no more
    assert {row.state for row in outbox} == {"delivered"}
    received = Counter(str(m["Message-ID"]).strip() for m in smtp.sink.received)
    assert set(received) == {row.message_id for row in outbox}  # none lost, none sent under an id of its own


def worklist_agrees(runtime: Runtime) -> None:
    """Each ticket's ready worklist rows are exactly the ready user tasks of its restored workflow."""
    with UnitOfWork(runtime.sessions, read_only=True, snapshot=True) as uow:
        session = uow.session
        for ticket in session.scalars(select(Ticket)):
            rows = set(session.scalars(select(HumanTask.id).where(HumanTask.ticket_id == ticket.id,
                                                                   HumanTask.state == "ready")))
            ready: set[str] = set()
            if ticket.workflow:
                _, definition = runtime.definition_of(session, ticket.definition_id)
                workflow = workflow_state.restore(ticket.workflow, definition)
                ready = {str(t.id) for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual}
            assert rows == ready, ticket.number
