"""Background work: fire due timers (and retry stalled tickets), deliver the outbox's due messages (once the
transactions that queued them committed), anchor the history once a day, archive closed tickets past
TICKETFLOW_ARCHIVE_AFTER_DAYS once a day (when set), and on SQLite checkpoint the WAL.
`ticketflow worker` runs it as a process; `ticketflow serve` as a thread."""
from __future__ import annotations

import logging
import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType

from engine.access import Actor
from engine.context import begin_request, end_request
from engine.runtime import Runtime
from engine.usecases.archive import ArchiveReport, ArchiveService
from engine.usecases.audit import AuditService
from engine.usecases.outbox import DeliveryReport, OutboxDelivery
from ticketflow.cli_archive import retention_days, summary

log = logging.getLogger(__name__)
WORKER = Actor("worker", "auditor")  # anchoring is an audit act: as this actor the worker changes no ticket
MAX_BACKOFF = 60.0  # seconds: a database back after an outage is noticed within a minute


def worker_round(runtime: Runtime, report: Callable[[str], None], stopping: Callable[[], bool] = lambda: False,
                 delivery: OutboxDelivery | None = None) -> bool:
    """One round of background work, reporting one line per kind of work done; False when there was none.

    The round has a request id, as a web request has: the history events it records and its log lines name it."""
    _, token = begin_request()
    try:
        return _round(runtime, report, stopping, delivery)
    finally:
        end_request(token)


def _round(runtime: Runtime, report: Callable[[str], None], stopping: Callable[[], bool],
           delivery: OutboxDelivery | None) -> bool:
    done = []
    advanced = runtime.fire_due_timers(stopping=stopping)
    if advanced:
        done.append(f"timers fired or stalled steps retried on {len(advanced)} ticket(s): {', '.join(advanced)}")
    checked = [] if stopping() else runtime.check_service_levels(stopping=stopping)
    if checked:
        done.append(f"service levels at risk or breached on {len(checked)} ticket(s): {', '.join(checked)}")
    if not stopping():
        done += delivery_lines((delivery or _delivery(runtime)).deliver_due(stopping))
    anchor = None if stopping() else AuditService(runtime).anchor_if_due(WORKER)
    if anchor is not None:
        done.append(f"anchored {anchor.tickets} ticket head(s) as anchor {anchor.seq}: {anchor.hash}")
    archived = None if stopping() else archive_if_due(runtime)
    if archived is not None and archived.tickets:
        done.append(summary(archived))
    runtime.checkpoint()  # SQLite: so that no request's commit has to
    for line in done:
        report(line)
    return bool(done)


def archive_if_due(runtime: Runtime, every: timedelta = timedelta(days=1)) -> ArchiveReport | None:
    """Archive closed tickets past TICKETFLOW_ARCHIVE_AFTER_DAYS, once a day per process; None when not set or
    not due (a bad value is logged, once a day, and archives nothing)."""
    now = runtime.clock()
    last = _ARCHIVED_AT.get(id(runtime))
    if last is not None and now - last < every:
        return None
    _ARCHIVED_AT[id(runtime)] = now
    try:
        retention = retention_days()
    except ValueError as exc:
        log.warning("not archiving: %s", exc)
        return None
    if retention is None:
        return None
    return ArchiveService(runtime).archive(timedelta(days=retention))


_ARCHIVED_AT: dict[int, datetime] = {}  # per runtime: when this process last archived


def delivery_lines(delivered: DeliveryReport) -> list[str]:
    """What a round of delivery did, one line per outcome."""
    lines = []
    if delivered.delivered:
        lines.append(f"{len(delivered.delivered)} message(s) delivered")
    if delivered.failed:
        lines.append(f"{len(delivered.failed)} message(s) failed, to be retried later")
    if delivered.dead:
        lines.append(f"{len(delivered.dead)} message(s) failed for good and were given up; see /outbox")
    if delivered.held:
        lines.append(f"{delivered.held} message(s) held: email is not configured, see /outbox")
    return lines


def _delivery(runtime: Runtime) -> OutboxDelivery:
    from ticketflow.composition import make_delivery  # the transport is chosen by the composition root

    return make_delivery(runtime)


class WorkerThread(threading.Thread):
    """Runs worker rounds every ``interval`` seconds until stopped (the embedded setup's worker)."""

    def __init__(self, runtime: Runtime, interval: float = 5.0, delivery: OutboxDelivery | None = None) -> None:
        super().__init__(name="ticketflow-worker", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self.delivery = delivery
        self.stopped = threading.Event()

    def run(self) -> None:
        run_worker(self.runtime, self.interval, False, log.info, self.stopped, self.delivery)

    def stop(self) -> None:
        self.stopped.set()


def run_worker(runtime: Runtime, interval: float, once: bool, report: Callable[[str], None],
               stop: threading.Event | None = None, delivery: OutboxDelivery | None = None) -> int:
    """Worker rounds every ``interval`` seconds until ``stop`` is set (or SIGTERM / SIGINT arrive, when run
    in the main thread), finishing the ticket or message in hand first and releasing the other messages it
    claimed. A failing round (the database locked, gone or restarted) is logged and retried with a growing,
    jittered delay; it never ends the worker. With ``once``: one round, then exit 0 (1 if the round failed)."""
    stop = stop or threading.Event()
    delivery = delivery or _delivery(runtime)
    failures = 0
    with _stopping_on_signals(stop):
        _count_steps()
        if not once:
            log.info("worker started: a round every %.1f s; SIGTERM or Ctrl-C stops it after the step in hand",
                     interval)
        while not stop.is_set():
            try:
                did_something = worker_round(runtime, report, stop.is_set, delivery)
            except Exception as exc:  # noqa: BLE001 - the worker must outlive any one round
                failures += 1
                delay = _backoff(interval, failures)
                log.warning("worker round failed (%s); retrying in %.1f s", _plainly(exc), delay,
                            exc_info=failures == 1)
                _reconnect(runtime)
                if once:
                    return 1
                stop.wait(delay)
                continue
            failures = 0
            if once:
                if not did_something:
                    report("nothing to do: no timer due, no stalled ticket, no anchor due")
                return 0
            stop.wait(interval)
    return 0


def _count_steps() -> None:
    """Timer lag and step latency into the metrics (a gunicorn sharing PROMETHEUS_MULTIPROC_DIR shows them); imported
    once SIGTERM is handled, so a worker stopped while it starts still stops cleanly."""
    from web.metrics import count_steps

    count_steps()


def _backoff(interval: float, failures: int) -> float:
    """Doubling from the round interval up to MAX_BACKOFF, with jitter so that many workers do not retry at once."""
    return min(interval * 2 ** (failures - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)  # noqa: S311


def _plainly(exc: Exception) -> str:
    """The first line of an error, without the driver's statement dump."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _reconnect(runtime: Runtime) -> None:
    """Drop pooled connections: after a server restart or a killed backend they are dead."""
    bind = runtime.sessions.kw.get("bind")
    if bind is not None:
        bind.dispose()


@contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGTERM and SIGINT into ``stop`` (only the main thread can receive signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received: finishing the ticket or message in hand, then stopping",
                 signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
