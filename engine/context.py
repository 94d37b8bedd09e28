"""What the engine knows of the request it serves: its id, so that history events name the request behind them."""
from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token

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
