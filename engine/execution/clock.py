"""An injectable clock, also seen by SpiffWorkflow's timer module.

SpiffWorkflow's timer event definitions call ``datetime.now(timezone.utc)`` directly, so a fake
clock cannot be passed in. We replace that module's ``datetime`` name once with a subclass whose
``now`` reads a context variable: engine calls set it for their duration (thread- and task-safe),
and everything else still sees the real time.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _spiff_timer

Clock = Callable[[], datetime]

_current: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("ticketflow_now", default=None)


def system_clock() -> datetime:
    """The real time, timezone-aware UTC."""
    return datetime.now(UTC)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        pinned = _current.get()
        if pinned is None:
            return datetime.now(tz)
        return pinned if tz is None else pinned.astimezone(tz)


_spiff_timer.datetime = _EngineDatetime  # type: ignore[misc]


@contextlib.contextmanager
def engine_time(now: datetime) -> Iterator[None]:
    """Make SpiffWorkflow's timers see ``now`` for the duration of the block."""
    if now.tzinfo is None:
        raise ValueError("engine time must be timezone-aware")
    token = _current.set(now)
    try:
        yield
    finally:
        _current.reset(token)


def add_duration(start: datetime, iso_duration: str) -> datetime:
    """``start`` plus an ISO 8601 duration, with SpiffWorkflow's calendar-aware month arithmetic."""
    parsed = _spiff_timer.TimerEventDefinition.parse_iso_duration(iso_duration)
    return start + _spiff_timer.TimerEventDefinition.get_timedelta_from_start(parsed, start)


class FakeClock:
    """A clock for tests and replay: stands still until told to move."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self.now = self.now + timedelta(**delta)
        return self.now
