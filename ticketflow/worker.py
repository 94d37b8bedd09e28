"""Background work: fire due timers (and retry stalled tickets), anchor the history once a day, and on
SQLite checkpoint the WAL. `ticketflow worker` runs it as a process; `ticketflow serve` as a thread."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.audit import AuditService

log = logging.getLogger(__name__)
WORKER = Actor("worker", "auditor")  # anchoring is an audit act; the worker changes no ticket


def worker_round(runtime: Runtime, report: Callable[[str], None]) -> bool:
    """One round of background work, reporting one line per kind of work done; False when there was none."""
    done = []
    advanced = runtime.fire_due_timers()
    if advanced:
        done.append(f"timers fired or stalled steps retried on {len(advanced)} ticket(s): {', '.join(advanced)}")
    anchor = AuditService(runtime).anchor_if_due(WORKER)
    if anchor is not None:
        done.append(f"anchored {anchor.tickets} ticket head(s) as anchor {anchor.seq}: {anchor.hash}")
    runtime.checkpoint()  # SQLite: so that no request's commit has to
    for line in done:
        report(line)
    return bool(done)


class WorkerThread(threading.Thread):
    """Runs worker rounds every ``interval`` seconds until stopped (the embedded setup's worker)."""

    def __init__(self, runtime: Runtime, interval: float = 5.0) -> None:
        super().__init__(name="ticketflow-worker", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                worker_round(self.runtime, log.info)
            except Exception:  # a bad round must not kill the worker; the next round retries
                log.exception("worker round failed")
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


def run_worker(runtime: Runtime, interval: float, once: bool, report: Callable[[str], None]) -> int:
    """`ticketflow worker`: rounds every ``interval`` seconds (or one, with ``once``), reporting each line."""
    stop = threading.Event()
    while True:
        did_something = worker_round(runtime, report)
        if once:
            if not did_something:
                report("nothing to do: no timer due, no stalled ticket, no anchor due")
            return 0
        if stop.wait(interval):
            return 0
