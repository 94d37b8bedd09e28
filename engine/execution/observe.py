"""Who is told of each step a ticket takes: the metrics hang off this, so the engine keeps no figures itself."""
from __future__ import annotations

from typing import Protocol


class StepObserver(Protocol):
    """Told of every live step (never of a replay's), in the step's own thread: it must be cheap."""

    def step_saved(self, cause: str, seconds: float) -> None:
        """A step (``task_completed``, ``timer_fired``, ``engine_steps``) took ``seconds`` until its state was saved."""

    def timer_fired(self, lag_seconds: float) -> None:
        """A timer fired ``lag_seconds`` after it was due."""


class _Nobody:
    def step_saved(self, cause: str, seconds: float) -> None:
        pass

    def timer_fired(self, lag_seconds: float) -> None:
        pass


NOBODY: StepObserver = _Nobody()
_observer: list[StepObserver] = [NOBODY]  # one slot: the process's metrics, set by the composition root


def observe_steps(observer: StepObserver | None) -> None:
    """Tell ``observer`` of every step from now on (None: nobody); the last one set wins."""
    _observer[0] = observer or NOBODY


def step_observer() -> StepObserver:
    """The observer told of steps now."""
    return _observer[0]
