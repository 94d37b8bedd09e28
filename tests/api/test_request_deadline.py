"""A request that takes longer than TICKETFLOW_REQUEST_TIMEOUT is answered 503 with Retry-After and changes nothing."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from engine.execution.steps import Execution
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.api.conftest import Api, make_api, open_ticket
from tests.e2e.conftest import Visitor

LIMIT = 0.5  # seconds: ample for any request of these tests, short enough to overrun on purpose
OVERRUN = LIMIT + 0.2
DETAIL = f"the request took longer than {LIMIT:g} s and was stopped; nothing was changed; try again"


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return make_api(runtime, request_timeout=LIMIT)


def slow_before_the_use_case(monkeypatch: pytest.MonkeyPatch, runtime: Runtime) -> None:
    real_open = runtime.open_ticket

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(OVERRUN)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(runtime, "open_ticket", slow_open)


def slow_inside_the_workflow(monkeypatch: pytest.MonkeyPatch, _runtime: Runtime) -> None:
    real_steps = Execution.run_engine_steps

    def slow_steps(self: Execution) -> None:
        time.sleep(OVERRUN)  # the ticket's rows are being written in this transaction already
        real_steps(self)

    monkeypatch.setattr(Execution, "run_engine_steps", slow_steps)


@pytest.mark.parametrize("slow_down", [slow_before_the_use_case, slow_inside_the_workflow])
def test_a_slow_request_is_answered_503_and_opens_no_ticket(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                            slow_down: Any) -> None:
    slow_down(monkeypatch, api.runtime)
    response = api.as_("alice").post("/api/v1/tickets", json={"subject": "Printer on fire",
                                                              "description": "Smoke is coming out of tray 2."})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    problem: dict[str, Any] = response.json or {}
    assert problem["title"] == "Service unavailable"
    assert problem["detail"] == DETAIL
    assert problem["request_id"] == response.headers["X-Request-Id"]
    monkeypatch.undo()
    listed: dict[str, Any] = api.as_("root").get("/api/v1/tickets").json or {}
    assert listed["total"] == 0 and listed["items"] == []
    open_ticket(api)  # the same request in time goes through: the slow one left nothing half-done


def test_a_slow_page_gets_a_plain_503_page(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    number = open_ticket(api)["number"]
    visitor = Visitor(api.app.test_client())
    visitor.sign_in(api.tokens["alice"])
    real_read = api.runtime.ticket_with_trail

    def slow_read(*args: Any, **kwargs: Any) -> Any:
        time.sleep(OVERRUN)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(api.runtime, "ticket_with_trail", slow_read)
    response = visitor.get(f"/tickets/{number}", status=503)
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == "1"
    assert DETAIL in response.text
    assert "Service unavailable" in response.text


def test_a_streamed_export_may_take_longer_once_it_has_begun(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    open_ticket(api)
    real_export = AuditService._export

    def slow_export(self: AuditService, *args: Any, **kwargs: Any) -> Iterator[str]:
        time.sleep(OVERRUN)  # a long download: the answer has begun, the limit no longer applies
        yield from real_export(self, *args, **kwargs)

    monkeypatch.setattr(AuditService, "_export", slow_export)
    response = api.as_("aude").get(
        "/api/v1/audit/export?from=2026-01-01T00:00:00%2B00:00&to=2027-01-01T00:00:00%2B00:00")
    assert response.status_code == 200
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events and events[0]["kind"] == "ticket_opened"


def test_without_a_limit_a_slow_request_goes_through(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    api = make_api(runtime, request_timeout=None)
    slow_inside_the_workflow(monkeypatch, runtime)
    open_ticket(api)
