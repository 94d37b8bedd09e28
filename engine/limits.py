"""How long each text may be, in one place. The schema sizes its columns from here, and the use cases,
the API document and the pages check input against the same numbers, so whatever is accepted fits where
it is stored on every database (PostgreSQL refuses an over-long value; SQLite would silently keep it)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SUBJECT = 300
DESCRIPTION = 20_000
PERSON_NAME = 200  # customers, agents, the actors the history names
CONTACT_DETAIL = 300  # an email address, a phone number, a contact's name
MESSAGE_SUBJECT = 300
RECIPIENT = 500
ELEMENT_ID = 200  # a diagram element's id
ELEMENT_NAME = 300  # a diagram element's name (a task's title)
LANE = 100
FORM_FILE = 200
CURRENT_STEPS = 500  # the ticket's ready steps' names, joined
CURRENT_LANES = 200
QUERY_FILTER = 200
KB_SLUG = 64
KB_TITLE = 300
KB_KEYWORDS = 500
KB_BODY = 100_000
STALLED_REASON = 500
CHANNEL_NAME = 30  # a webhook channel's name: it is the ticket's `channel`, a String(30) column
WEBHOOK_ID = 200  # a Standard Webhooks `webhook-id` header, kept for idempotency
ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text on every database (None when it can): PostgreSQL refuses NUL
    characters, and a lone UTF-16 surrogate (which JSON's \\ud800 escapes can carry) is not UTF-8 at all."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it contains an unpaired surrogate)"
    return None


def unstorable_strings(document: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(JSON pointer, reason) for every string, key included, in ``document`` that cannot be stored."""
    stack = [(pointer, document)]
    while stack:  # iterative: a document nested thousands deep must not exhaust the call stack
        where, value = stack.pop()
        if isinstance(value, str):
            reason = unstorable(value)
            if reason:
                yield where, reason
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}"
                reason = unstorable(str(key))
                if reason:
                    yield path, f"field name {reason}"
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}/{index}", item) for index, item in enumerate(value))
