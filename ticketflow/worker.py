"""`ticketflow serve`: the app on loopback, with the timer worker in a background thread.

This is the embedded setup (one process; on SQLite one writer at a time anyway). For production run
the app under gunicorn (`gunicorn 'web.wsgi:app'`) and `ticketflow worker` as separate processes.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from werkzeug.serving import make_server

from engine.access import Actor
from engine.usecases.audit import AuditService
from engine.runtime import Runtime
from engine.usecases.users import Directory

from web.app import WebSettings, create_app

log = logging.getLogger(__name__)
WORKER = Actor("worker", "auditor")  # anchoring is an audit act; the worker changes no ticket
DEMO_USERS = [("carla", "customer", "carla@example.com"), ("lena", "l1", None), ("otto", "l2", None),
              ("petra", "process_owner", None), ("aude", "auditor", None), ("root", "admin", None)]


class TimerWorker(threading.Thread):
    """Fires due timers and retries stalled tickets every ``interval`` seconds until stopped."""

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


def worker_round(runtime: Runtime, report: Callable[[str], None]) -> None:
    """One round of background work: fire due timers (and retry stalled tickets), anchor once a day,
    and on SQLite checkpoint the WAL so that no request's commit has to."""
    advanced = runtime.fire_due_timers()
    if advanced:
        report(f"advanced {len(advanced)} ticket(s): {', '.join(advanced)}")
    anchor = AuditService(runtime).anchor_if_due(WORKER)
    if anchor is not None:
        report(f"anchored {anchor.tickets} ticket head(s) as anchor {anchor.seq}: {anchor.hash}")
    runtime.checkpoint()


def ensure_demo_users(directory: Directory) -> list[tuple[str, str, str]]:
    """One user per role, created once; each run issues them fresh tokens (only hashes are kept, so an
    earlier token cannot be shown again). Returns (name, role, token)."""
    issued = []
    for name, role, email in DEMO_USERS:
        if directory.get(name) is None:
            _, token = directory.add_user(name, role, email)
        else:
            token = directory.issue_token(name)
        issued.append((name, role, token))
    return issued


def serve(runtime: Runtime, host: str = "127.0.0.1", port: int = 8000, worker_interval: float | None = 5.0,
          settings: WebSettings | None = None, announce: Callable[[str], None] = print) -> None:
    app = create_app(runtime, settings)
    server = make_server(host, port, app, threaded=True)
    worker = TimerWorker(runtime, worker_interval) if worker_interval else None
    if worker:
        worker.start()
    announce(f"ticketflow is serving on http://{host}:{server.server_port}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if worker:
            worker.stop()
            worker.join(timeout=10)
