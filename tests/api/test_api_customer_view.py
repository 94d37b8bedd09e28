"""What a customer can receive from the API, listed key by key: nothing of the team's work notes,
no internal variable names, no digests, nothing of another customer's."""
from __future__ import annotations

import json
import re
from typing import Any

from engine.execution.clock import FakeClock
from tests.api.conftest import Api, complete, current_task, open_ticket
from tests.api.test_api_paths import escalate_and_fix
from tests.conftest import FIX, INVESTIGATE, PERSISTS, SOLUTION

# Every key path a customer receives along the escalate -> persists -> fix -> remind path. A new key is a
# decision: add it here only if the customer should see it.
CUSTOMER_KEYS = {
    "ticket": {
        "number", "status", "subject", "description", "channel", "customer", "contact", "contact.email",
        "registered_by", "unit", "classification", "classification.type", "classification.impact",
        "classification.urgency", "classification.priority", "priority", "current_steps", "current_lanes",
        "ready_tasks", "ready_tasks[].id", "ready_tasks[].ticket", "ready_tasks[].element_id", "ready_tasks[].name",
        "ready_tasks[].lane", "ready_tasks[].form", "ready_tasks[].state", "ready_tasks[].assignee",
        "ready_tasks[].created_at", "ready_tasks[].href", "opened_at", "first_response_due", "resolved_at",
        "closed_at", "next_timer_at", "stalled_reason", "step_failures", "version", "definition_version", "href",
    },
    "event": {
        "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data", "hash",
        "data.channel", "data.contact", "data.contact.email", "data.customer", "data.registered_by", "data.subject",
        "data.description",
        "data.gateway", "data.branch", "data.purpose", "data.recipient", "data.body", "data.form",
        "data.form.validation_outcome", "data.form.customer_comment",
    },
    "task_detail": {
        "id", "ticket", "element_id", "name", "lane", "form", "state", "assignee", "created_at", "href",
        "ticket_summary", "form_schema", "context", "prefill", "actions", "actions.claim", "actions.release",
        "actions.complete", "context.ticket_number", "context.subject", "context.description",
        "context.customer_message", "context.customer_steps", "context.validation_request",
        "context.validation_request.response_window", "context.validation_request.respond_by",
        "prefill.validation_outcome", "prefill.customer_comment",
    },
}
# The team's variables: none of these names (nor a 16-hex digest) may reach a customer.
INTERNAL_NAMES = ("resolve_at_first_level", "reproduced", "fix_kind", "root_cause", "logs_reviewed",
                  "troubleshooting_steps", "escalation_reason", "assessment", "actions_taken", "fix_details",
                  "components_changed", "kb_matches", "data_digest", "inputs", "operator", "message_id")
DIGEST = re.compile(r"\b[0-9a-f]{16}\b|\b[0-9a-f]{64}\b")


def key_paths(value: Any, prefix: str = "", skip: tuple[str, ...] = ()) -> set[str]:
    """Every key path in a JSON document ("a.b", "list[].c"); subtrees named in ``skip`` are not entered."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            if path not in skip:
                found |= key_paths(item, path, skip)
    elif isinstance(value, list):
        for item in value:
            found |= key_paths(item, f"{prefix}[]", skip)
    return found


def played_ticket(api: Api, clock: FakeClock) -> str:
    """A ticket of alice's that went through L2, persisted, was fixed again and waited past a reminder."""
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    complete(api, number, "alice", PERSISTS, claim=False)
    for user, data in (("otto", INVESTIGATE), ("otto", FIX), ("lena", SOLUTION)):
        complete(api, number, user, data)
    clock.advance(days=3, minutes=1)
    api.runtime.fire_due_timers()
    return number


def test_a_customer_receives_only_the_listed_keys_and_no_internal_names_or_digests(api: Api,
                                                                                   clock: FakeClock) -> None:
    number = played_ticket(api, clock)
    open_ticket(api, customer="bob", subject="Bob's own private problem")
    alice = api.as_("alice")
    detail = alice.get(f"/api/v1/tickets/{number}").json
    history = alice.get(f"/api/v1/tickets/{number}/history").json
    listing = alice.get("/api/v1/tickets").json
    tasks = alice.get("/api/v1/tasks").json
    task = alice.get(f"/api/v1/tasks/{current_task(api, number)['id']}").json

    assert key_paths({k: v for k, v in detail.items() if k != "trail"}) == CUSTOMER_KEYS["ticket"]
    for event in detail["trail"] + history["events"]:
        assert key_paths(event) <= CUSTOMER_KEYS["event"], event["kind"]
        assert event["hash"] is None
    assert {e["kind"] for e in history["events"]} >= {"task_ready", "service_called", "message_queued",
                                                      "gateway_taken", "timer_fired", "task_completed"}
    for item in listing["items"]:
        assert key_paths(item) == CUSTOMER_KEYS["ticket"] - {p for p in CUSTOMER_KEYS["ticket"] if "[]" in p}
    assert key_paths(task, skip=("form_schema", "ticket_summary")) == CUSTOMER_KEYS["task_detail"]

    everything = json.dumps([detail, history, listing, tasks, task])
    assert [name for name in INTERNAL_NAMES if f'"{name}"' in everything] == []
    assert DIGEST.findall(everything) == []
    assert "Bob's own private problem" not in everything and "bob@example.com" not in everything
