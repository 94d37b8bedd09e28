"""gunicorn workers whose own refusals are RFC 9457 problems, like every other error of the API.

gunicorn answers a request line over ``limit_request_line`` (414), header fields over their limits (431) and
unparsable requests (400) itself, before the app sees them, as small HTML pages. A client of a JSON API should
not have to parse HTML for those few cases: these workers answer them as ``application/problem+json``.
Run with ``gunicorn -k ticketflow.gunicorn.ProblemThreadWorker --threads 2 ... 'ticketflow.wsgi:app'``.

This module is also gunicorn's configuration: ``gunicorn -c python:ticketflow.gunicorn -w 4 'ticketflow.wsgi:app'``
chooses that worker, logs JSON lines from every worker, and keeps the workers' metrics in one directory
(``PROMETHEUS_MULTIPROC_DIR``, made afresh at start-up; a temporary one when unset) so that any worker's
``/metrics`` adds up all of them.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gunicorn.http import errors
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from engine.context import new_request_id

PROBLEM_TYPE = "https://ticketflow.example/problems/"  # as web.problems: one namespace for every problem
_REFUSALS: list[tuple[type[Exception], int, str, str]] = [
    (errors.LimitRequestLine, 414, "URI too long", "the request line (method, path and query) is too long"),
    (errors.LimitRequestHeaders, 431, "Request header fields too large", "a request header, or all of them, "
                                                                          "are larger than the server accepts"),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "requests through this proxy are not accepted"),
    (errors.UnsupportedTransferCoding, 501, "Not implemented", "the transfer coding is not supported"),
]
_SLUGS = {400: "malformed-request", 403: "forbidden", 414: "uri-too-long", 431: "header-fields-too-large",
          500: "internal-error", 501: "not-implemented"}


def refusal(exc: BaseException) -> tuple[int, str, str]:
    """(status, title, detail) for an error gunicorn met while reading or answering a request."""
    for kind, status, title, detail in _REFUSALS:
        if isinstance(exc, kind):
            return status, title, detail
    if isinstance(exc, errors.ParseException):
        return 400, "Malformed request", "the request could not be read as HTTP/1.1"
    return 500, "Internal error", "an unexpected error occurred; it has been logged"


def problem_bytes(status: int, title: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response carrying the problem; the connection closes after it."""
    request_id = new_request_id()  # the app never saw this request: the id is made here
    body = json.dumps({"type": PROBLEM_TYPE + _SLUGS.get(status, str(status)), "title": title,
                       "status": status, "detail": detail, "request_id": request_id}).encode()
    head = (f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"X-Request-Id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class _ProblemErrors:
    """Replaces gunicorn's HTML error page; its logging (a warning for the client's fault, the stack trace
    for a server error) is kept by the base class's method, whose page writing we skip."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, title, detail = refusal(exc)
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, problem_bytes(status, title, detail))
        except OSError:
            self.log.debug("Failed to send error message.")


MAX_PARK_SECONDS = 10.0  # the longest a connection waits unread after a 429, whatever its Retry-After said
_refusal = threading.local()  # per worker thread: the Retry-After of the 429 it has just sent, if it sent one


def _noting_429(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app, noting on the serving thread when it answers 429 and after how long it may be asked again."""
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("429"):
                said = next((value for name, value in headers if name.lower() == "retry-after"), "1")
                _refusal.retry_after = min(MAX_PARK_SECONDS, float(said)) if said.isdigit() else 1.0
            return start_response(status, headers, exc_info)
        return app(environ, start)
    return wsgi


class ProblemThreadWorker(_ProblemErrors, ThreadWorker):
    """gunicorn's gthread worker, refusing with problem+json, and holding to its own Retry-After.

    A caller refused with 429 is told when to come back. One that does not listen, a flood sending as fast as it is
    answered, would otherwise have every refusal cost a worker thread the whole request handling (some 0.7 ms
    here), so the more it is refused the more it takes. After a 429 the connection is parked: the worker does not
    read it until Retry-After has passed (at most ``MAX_PARK_SECONDS``), holding no thread meanwhile; a request
    already sent on it waits in the socket and is then answered as usual. Other connections, the same caller's
    included, are served as before: the buckets in ``web.rate_limits`` still decide.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parked: list[tuple[float, int, Any, Any]] = []  # (until, order, connection, its request's future)
        self._order = itertools.count()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = _noting_429(getattr(self, "wsgi"))  # noqa: B009 - gunicorn's attribute, untyped

    def handle_request(self, req: Any, conn: Any) -> Any:
        _refusal.retry_after = None
        keep_alive = super().handle_request(req, conn)
        if keep_alive and _refusal.retry_after:
            conn.ticketflow_parked_until = time.monotonic() + _refusal.retry_after
        return keep_alive

    def finish_request(self, conn: Any, fs: Any) -> None:
        """On the main thread once a request is done: a refused connection is parked rather than read again."""
        until: float | None = getattr(conn, "ticketflow_parked_until", None)
        conn.ticketflow_parked_until = None  # this request's, never a later one's
        try:
            kept = until is not None and self.alive and not fs.cancelled() and fs.result() is True
        except Exception:  # noqa: BLE001 - gunicorn's own finish_request closes a connection whose request failed
            kept = False
        if not kept or until is None:
            super().finish_request(conn, fs)
            return
        heapq.heappush(self._parked, (until, next(self._order), conn, fs))

    def murder_keepalived(self, force: bool = False) -> None:
        """Run by the main loop at least once a second: parked connections whose time has come (all of them once
        the worker stops) go back to being read; then gunicorn closes the idle ones."""
        now = time.monotonic()
        while self._parked and (force or not self.alive or self._parked[0][0] <= now):
            _, _, conn, fs = heapq.heappop(self._parked)
            super().finish_request(conn, fs)
        super().murder_keepalived(force)


class ProblemSyncWorker(_ProblemErrors, SyncWorker):
    """gunicorn's sync worker, refusing with problem+json."""


# -- gunicorn's configuration, when loaded with -c python:ticketflow.gunicorn ----------------------------------
worker_class = "ticketflow.gunicorn.ProblemThreadWorker"
threads = 2


def on_starting(server: Any) -> None:
    """In the master, before any worker: the metrics directory the workers inherit, and gunicorn's own lines in
    the format of the application's."""
    prepare_metrics_dir()
    _gunicorn_lines_as_ours()


def post_fork(server: Any, worker: Any) -> None:
    """In each worker: JSON log lines (``TICKETFLOW_LOG_FORMAT=text`` for plain ones)."""
    from ticketflow.logs import configure_logging

    configure_logging()
    _gunicorn_lines_as_ours()


def post_worker_init(worker: Any) -> None:
    """In each worker, once the app is loaded: start-up's objects out of the collector's full passes."""
    from ticketflow.heap import settle_after_start_up

    settle_after_start_up()


def _gunicorn_lines_as_ours() -> None:
    import logging

    from ticketflow.logs import JsonFormatter, log_format

    if log_format() != "json":
        return
    for name in ("gunicorn.error", "gunicorn.access"):  # "Booting worker", "Worker timeout", ...
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(JsonFormatter())


def child_exit(server: Any, worker: Any) -> None:
    """In the master, when a worker ended: its live gauges no longer count (its counters still do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def prepare_metrics_dir() -> Path:
    """``PROMETHEUS_MULTIPROC_DIR`` (a temporary directory when unset), rid of the counts of processes that ended
    before this start (an earlier run's would be added to this one's); a running ``ticketflow worker``'s stay."""
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="ticketflow-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for counts in path.glob("*_*.db"):  # prometheus_client names them <kind>_<pid>.db
        if not _running(counts.stem.rpartition("_")[2]):
            counts.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _running(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
