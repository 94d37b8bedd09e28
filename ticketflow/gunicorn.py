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

import json
import os
import tempfile
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


class ProblemThreadWorker(_ProblemErrors, ThreadWorker):
    """gunicorn's gthread worker, refusing with problem+json."""


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
