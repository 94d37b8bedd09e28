"""A request id per request: echoed, in the log lines, in problem bodies and in the history events it records."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from engine.context import begin_request, end_request
from engine.usecases.audit import AuditService
from tests.api.conftest import Api, current_task, open_ticket
from tests.conftest import CLASSIFY, CUSTOMER, intake
from ticketflow.logs import JsonFormatter, RequestIdFilter

GENERATED = re.compile(r"[0-9a-f]{16}")


def test_a_sane_id_is_kept_and_echoed_and_a_missing_or_wild_one_is_replaced(api: Api) -> None:
    kept = api.client.get("/healthz", headers={"X-Request-Id": "edge-7f3a.retry_2"})
    assert kept.headers["X-Request-Id"] == "edge-7f3a.retry_2"
    for wild in (None, "", "x" * 129, "two words", "tab\there", "ünïcode", "a;b", "<script>"):
        answered = api.client.get("/healthz", headers={"X-Request-Id": wild} if wild is not None else {})
        assert GENERATED.fullmatch(answered.headers["X-Request-Id"]), wild
    ids = {api.client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_problem_bodies_name_the_request(api: Api) -> None:
    unauthenticated = api.client.get("/api/v1/tickets", headers={"X-Request-Id": "support-case-42"})
    assert unauthenticated.status_code == 401 and unauthenticated.json["request_id"] == "support-case-42"
    invalid = api.as_("alice").post("/api/v1/tickets", json={"subject": ""})
    assert invalid.status_code == 422 and invalid.json["request_id"] == invalid.headers["X-Request-Id"]
    unknown = api.as_("lena").get("/api/v1/tickets/T-424242")
    assert unknown.status_code == 404 and GENERATED.fullmatch(unknown.json["request_id"])


def test_the_request_line_is_logged_with_its_id_route_status_and_role_but_no_token(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    token = api.tokens["lena"]
    with caplog.at_level(logging.INFO, logger="ticketflow.http"):
        api.as_("lena").get("/api/v1/tasks?lane=L1%20Support", headers={"X-Request-Id": "inbox-1"})
    (line,) = [r for r in caplog.records if r.name == "ticketflow.http"]
    assert (line.request_id, line.method, line.route, line.status, line.role) == (  # type: ignore[attr-defined]
        "inbox-1", "GET", "/api/v1/tasks", 200, "l1")
    assert line.duration_ms >= 0  # type: ignore[attr-defined]
    assert token not in caplog.text


def test_json_lines_carry_the_id_of_the_request_they_were_written_in(api: Api) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ticketflow.http")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        api.as_("root").get("/api/v1/tickets/T-000404", headers={"X-Request-Id": "json-1",
                                                                 "Authorization": "Bearer wrong-token"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["request_id"] == "json-1" and line["route"] == "/api/v1/tickets/<number>"
    assert line["status"] == 401 and line["level"] == "info" and line["logger"] == "ticketflow.http"
    assert set(line) == {"time", "level", "logger", "message", "request_id", "method", "route", "status",
                         "duration_ms"}  # no role: the token was refused
    assert "wrong-token" not in out.getvalue()


def test_any_line_written_while_a_request_is_served_carries_its_id() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.request_id")
    logger.addHandler(handler)
    try:
        request_id, token = begin_request("worker-side-1")
        logger.warning("inside %s", "the request")
        end_request(token)
        logger.warning("after it")
    finally:
        logger.removeHandler(handler)
    inside, after = (json.loads(text) for text in out.getvalue().splitlines())
    assert request_id == inside["request_id"] == "worker-side-1" and inside["message"] == "inside the request"
    assert after["request_id"] is None and after["level"] == "warning"


def test_history_events_name_the_request_that_recorded_them_and_still_replay_and_verify(api: Api) -> None:
    number = api.as_("alice").post("/api/v1/tickets", headers={"X-Request-Id": "open-1"}, json={
        "subject": "Printer offline", "description": "The office printer shows offline since this morning."},
    ).json["number"]
    task = current_task(api, number)
    caller = api.as_("lena")
    assert caller.post(f"/api/v1/tasks/{task['id']}/claim", headers={"X-Request-Id": "claim-1"}).status_code == 200
    assert caller.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY,
                       headers={"X-Request-Id": "classify-1"}).status_code == 200
    events = api.as_("root").get(f"/api/v1/tickets/{number}/history").json["events"]
    by_request: dict[str, list[str]] = {}
    named = None
    for event in events:  # only the first event a request records names it: the ones after it carry none
        assert event["data"].get("request_id") != named
        named = event["data"].get("request_id", named)
        by_request.setdefault(str(named), []).append(event["kind"])
    assert list(by_request) == ["open-1", "claim-1", "classify-1"]
    assert by_request["open-1"][0] == "ticket_opened" and by_request["claim-1"] == ["task_claimed"]
    assert by_request["classify-1"][0] == "task_completed" and len(by_request["classify-1"]) > 1
    audit = AuditService(api.runtime)
    assert audit.verify_ticket(number).ok
    assert audit.replay(number).consistent


def test_events_recorded_outside_a_request_name_none(api: Api) -> None:
    over_http = open_ticket(api)["number"]
    by_worker = api.runtime.open_ticket(intake(), CUSTOMER).number  # as the CLI, the worker and mail intake do
    assert "request_id" in api.runtime.ticket_history(over_http)[0].data
    assert all("request_id" not in e.data for e in api.runtime.ticket_history(by_worker))
