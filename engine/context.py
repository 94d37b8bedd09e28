"""What the engine knows of the request it serves: its id, so that history events name the request behind them,
and its deadline, so that a unit of work stops (and changes nothing) once the request has run out of time."""
from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass
from time import monotonic

from engine.errors import DeadlineExceeded

# The id the web layer set for the request being served in this thread; None outside a request (worker, CLI).
_request_id: ContextVar[str | None] = ContextVar("ticketflow_request_id", default=None)
# An id a caller may send (X-Request-Id): short, and nothing a log line or a header could be split by.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return _request_id.get()


def begin_request(offered: str | None = None) -> tuple[str, Token[str | None]]:
    """Adopt ``offered`` when it is sane, else a new random id; return it and the token that ends it."""
    request_id = offered if offered is not None and SANE_REQUEST_ID.fullmatch(offered) else new_request_id()
    return request_id, _request_id.set(request_id)


def end_request(token: Token[str | None]) -> None:
    """Forget the request's id (the thread goes on to serve another request)."""
    _request_id.reset(token)


def new_request_id() -> str:
    """A random id of 16 hex digits: enough to find one request among billions, short in every history event."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Deadline:
    """When the request being served must be done (``time.monotonic`` seconds), and the limit it was given."""

    at: float
    limit: float

    def remaining(self) -> float:
        return self.at - monotonic()

    def exceeded(self) -> DeadlineExceeded:
        """The error that tells the caller the request was stopped at this deadline."""
        return DeadlineExceeded(self.limit)


# The deadline the web layer set for the request being served; None outside a request (worker, CLI): no limit.
_deadline: ContextVar[Deadline | None] = ContextVar("ticketflow_deadline", default=None)


def begin_deadline(limit: float) -> Token[Deadline | None]:
    """Give the request being served ``limit`` seconds from now; return the token that ends the deadline."""
    return _deadline.set(Deadline(monotonic() + limit, limit))


def end_deadline(token: Token[Deadline | None]) -> None:
    """Lift the request's deadline (the thread goes on to serve another request, or to stream a body)."""
    _deadline.reset(token)


def current_deadline() -> Deadline | None:
    """The deadline of the request being served, if any."""
    return _deadline.get()


def remaining_seconds() -> float | None:
    """Seconds left before the request's deadline (0 or less: past it); None when there is no deadline."""
    deadline = _deadline.get()
    return None if deadline is None else deadline.remaining()


def check_deadline() -> None:
    """Raise ``DeadlineExceeded`` if the request being served is past its deadline; nothing to check outside one."""
    deadline = _deadline.get()
    if deadline is not None and deadline.remaining() <= 0:
        raise deadline.exceeded()
