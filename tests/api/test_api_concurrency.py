"""Two agents complete the same task at the same moment: one 200, one 409, one history entry."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from engine.execution.steps import Execution
from engine.runtime import Runtime
from tests.api.conftest import Api, current_task, make_api, open_ticket
from tests.conftest import CLASSIFY
from ticketflow.composition import deploy_file


def race(apis: list[Api], task_id: str, start: threading.Barrier | None) -> list[Any]:
    """Both agents submit the classification at once (each through its own app, like two workers)."""
    results: list[Any] = []

    def submit(api: Api, user: str, impact: str) -> None:
        if start is not None:
            start.wait()
        response = api.as_(user).post(f"/api/v1/tasks/{task_id}/complete", json={**CLASSIFY, "impact": impact})
        results.append((response.status_code, response.json))

    threads = [threading.Thread(target=submit, args=(api, user, impact))
               for api, user, impact in zip(apis, ("lena", "root"), ("high", "low"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def check_one_winner(api: Api, number: str, results: list[Any]) -> None:
    assert sorted(status for status, _ in results) == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert loser["status"] == 409 and loser["title"] == "Conflict"
    winner = next(body for status, body in results if status == 200)
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    assert [e["element_id"] for e in events if e["kind"] == "task_completed"] == ["classify_ticket"]
    assert api.as_("root").get(f"/api/v1/tickets/{number}").json["priority"] == winner["priority"]


def test_concurrent_completion_on_sqlite(api: Api) -> None:
    number = open_ticket(api)["number"]
    task_id = current_task(api, number)["id"]
    check_one_winner(api, number, race([api, api], task_id, threading.Barrier(2, timeout=10)))


@pytest.mark.postgres
def test_concurrent_completion_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    first = runtimes(postgres_url)
    deploy_file(first)
    apis = [make_api(first)]
    apis.append(make_api(runtimes(postgres_url), apis[0].tokens))  # a second worker process's app
    number = open_ticket(apis[0])["number"]
    task_id = current_task(apis[0], number)["id"]
    both_loaded = threading.Barrier(2, timeout=10)
    original_init = Execution.__init__

    def load_then_wait(self: Execution, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        both_loaded.wait()  # both requests hold the same ticket version before either writes

    monkeypatch.setattr(Execution, "__init__", load_then_wait)
    results = race(apis, task_id, None)
    monkeypatch.setattr(Execution, "__init__", original_init)
    check_one_winner(apis[0], number, results)
