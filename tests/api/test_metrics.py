"""/metrics: requests by route and status, step latency, timer lag and the database's figures, after a lifecycle."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from engine.execution.clock import FakeClock
from tests.api.conftest import Api, complete, open_ticket
from tests.api.test_api_paths import escalate_and_fix
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, RESOLVED, SOLUTION

ELSEWHERE = {"REMOTE_ADDR": "10.1.2.3"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(api: Api) -> Samples:
    """Every sample of a scrape from this host (no token), by name and labels."""
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a counter grew between two scrapes (the counts are the process's, shared by every test)."""
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_lifecycle_shows_in_requests_steps_tickets_and_the_outbox(api: Api, clock: FakeClock) -> None:
    before = scrape(api)
    number = open_ticket(api)["number"]
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        complete(api, number, "lena", data)
    clock.advance(minutes=5)
    complete(api, number, "alice", RESOLVED, claim=False)
    after = scrape(api)

    completed = {"method": "POST", "route": "/api/v1/tasks/<task_id>/complete"}
    assert grew(before, after, "ticketflow_http_requests_total", **completed, status="200") == 4
    assert grew(before, after, "ticketflow_http_requests_total", method="POST", route="/api/v1/tickets",
                status="201") == 1
    assert grew(before, after, "ticketflow_http_request_duration_seconds_count", **completed) == 4
    assert grew(before, after, "ticketflow_step_duration_seconds_count", cause="task_completed") == 4
    assert grew(before, after, "ticketflow_step_duration_seconds_count", cause="engine_steps") >= 1  # the opening
    assert grew(before, after, "ticketflow_step_duration_seconds_sum", cause="task_completed") > 0
    assert value(after, "ticketflow_tickets", status="closed") == 1
    queued = value(after, "ticketflow_outbox_messages", state="pending")
    assert queued >= 2  # acknowledgment and resolution at least; no worker ran to deliver them
    assert value(after, "ticketflow_outbox_oldest_pending_seconds") >= 300  # the acknowledgment, 5 minutes ago
    assert value(after, "ticketflow_outbox_dead_messages") == 0


def test_a_late_timer_shows_its_lag(api: Api, clock: FakeClock) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)  # the customer's validation task, whose reminder is due in 3 days
    before = scrape(api)
    clock.advance(days=3, minutes=10)
    assert api.runtime.fire_due_timers() == [number]
    after = scrape(api)
    assert grew(before, after, "ticketflow_timer_lag_seconds_count") == 1
    assert 590 <= grew(before, after, "ticketflow_timer_lag_seconds_sum") <= 600
    assert grew(before, after, "ticketflow_step_duration_seconds_count", cause="timer_fired") == 1
    assert value(after, "ticketflow_tickets", status="awaiting_customer") == 1


def test_routes_are_url_rules_never_raw_paths(api: Api) -> None:
    api.as_("root").get("/api/v1/tickets/T-999999")
    api.client.get("/no/such/page/secret-token-in-path")
    names = scrape(api)
    routes = {dict(labels).get("route") for name, labels in names if name == "ticketflow_http_requests_total"}
    assert "/api/v1/tickets/<number>" in routes and "unmatched" in routes
    assert not any(route and ("T-999999" in route or "secret" in route) for route in routes)


def test_metrics_from_elsewhere_need_an_admin_or_auditor_token(api: Api) -> None:
    assert api.client.get("/metrics", environ_overrides=ELSEWHERE).status_code == 401
    forwarded = api.client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 401  # a proxy on this host does not make its clients local
    agent = api.as_("lena").get("/metrics", environ_overrides=ELSEWHERE)
    assert agent.status_code == 403 and agent.mimetype == "application/problem+json"
    for reader in ("aude", "root"):
        answered = api.as_(reader).get("/metrics", environ_overrides=ELSEWHERE)
        assert answered.status_code == 200 and b"ticketflow_tickets" in answered.data
