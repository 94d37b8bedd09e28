"""`ticketflow serve`: the app on loopback, with the worker in a background thread.

This is the embedded setup (one process; on SQLite one writer at a time anyway). For production run
the app under gunicorn (`gunicorn 'ticketflow.wsgi:app'`) and `ticketflow worker` as separate processes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from werkzeug.serving import make_server

from engine.runtime import Runtime
from engine.usecases.outbox import OutboxDelivery
from engine.usecases.users import Directory
from ticketflow.composition import EMAIL_HELD, make_delivery
from ticketflow.heap import settle_after_start_up
from ticketflow.logs import configure_logging
from ticketflow.worker import WorkerThread
from web.app import WebSettings, create_app

DEMO_USERS = [("carla", "customer", "carla@example.com"), ("lena", "l1", None), ("otto", "l2", None),
              ("petra", "process_owner", None), ("aude", "auditor", None), ("root", "admin", None)]


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
          settings: WebSettings | None = None, announce: Callable[[str], None] = print,
          delivery: OutboxDelivery | None = None, held_said: bool = False) -> None:
    """Serve the app until Ctrl-C, with the worker (timers, the outbox, anchors) in a thread unless told not to."""
    configure_logging()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # each request has our own line already
    delivery = delivery or make_delivery(runtime)
    if delivery.holds_email and not held_said:
        announce(EMAIL_HELD)
    app = create_app(runtime, settings)
    server = make_server(host, port, app, threaded=True)
    worker = WorkerThread(runtime, worker_interval, delivery) if worker_interval else None
    if worker:
        worker.start()
    settle_after_start_up()
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
