"""Long-running processes freeze what start-up built, so that the collector's full passes skip it."""
from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from ticketflow import gunicorn as gunicorn_config
from ticketflow import heap


@pytest.fixture()
def thawed() -> Iterator[None]:
    """Give the objects back to the collector afterwards: this test process is not a server."""
    try:
        yield
    finally:
        gc.unfreeze()


def test_start_up_objects_are_frozen_and_later_garbage_is_still_collected(thawed: None) -> None:
    heap.settle_after_start_up()
    assert gc.get_freeze_count() > 0
    frozen_before = gc.get_freeze_count()

    cycle: list[Any] = []
    cycle.append(cycle)  # garbage only the collector can free: a reference cycle made after start-up
    del cycle
    assert gc.collect() >= 1
    assert gc.get_freeze_count() == frozen_before  # start-up's objects stayed out of the pass


def test_gunicorn_freezes_each_worker_once_its_app_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    settled: list[bool] = []
    monkeypatch.setattr(heap, "settle_after_start_up", lambda: settled.append(True))
    gunicorn_config.post_worker_init(object())
    assert settled == [True]
