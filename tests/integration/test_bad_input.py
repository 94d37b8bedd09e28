"""Bad input gets a clear error and changes nothing."""
from __future__ import annotations

from dataclasses import replace

import pytest

from engine.access import Actor
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceFailed
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.base import CUSTOMER_STALL_NOTE
from tests.conftest import (
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    FIX,
    L1,
    L2,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation, kinds, outbox_count, runtime_with, ticket_row


def _unchanged(runtime: Runtime, number: str):
    row = ticket_row(runtime, number)
    return row.version, row.history_seq, row.workflow, outbox_count(runtime)


@pytest.fixture
def classified(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    return number


@pytest.mark.parametrize("data, pointer, words", [
    ({"type": 3, "impact": "high", "urgency": "high"}, "/type", "type string"),
    ({**CLASSIFY, "priority": "P1"}, "/priority", "unknown field"),
    ({"type": "incident", "impact": "high"}, "/urgency", "is required"),
    ({**CLASSIFY, "impact": "huge"}, "/impact", "one of: high, medium, low"),
    (["not", "an", "object"], "", "object"),
])
def test_invalid_form_data_is_refused_field_by_field_and_changes_nothing(
        runtime: Runtime, classified: str, data, pointer: str, words: str) -> None:
    before = _unchanged(runtime, classified)
    task = runtime.get_ticket(classified).ready_tasks[0]
    with pytest.raises(InvalidInput) as refused:
        runtime.complete_task(task.id, data, L1)
    assert any(e.pointer == pointer and all(w in e.message for w in words.split(" ")[:1])
               for e in refused.value.errors), refused.value.errors
    assert _unchanged(runtime, classified) == before


def test_vague_resolution_record_is_refused_saying_what_is_missing(runtime: Runtime, classified: str) -> None:
    complete_current(runtime, classified, L1, CLASSIFY)
    complete_current(runtime, classified, L1, ASSESS_RESOLVE)
    task = runtime.get_ticket(classified).ready_tasks[0]
    vague = {**SOLUTION, "actions_taken": "fixed it", "observed_outcome": ""}
    with pytest.raises(InvalidInput) as refused:
        runtime.complete_task(task.id, vague, L1)
    messages = {e.pointer: e.message for e in refused.value.errors}
    assert "at least 30 characters" in messages["/actions_taken"]
    assert "/observed_outcome" in messages


def test_escalation_without_troubleshooting_steps_is_refused(runtime: Runtime, classified: str) -> None:
    complete_current(runtime, classified, L1, CLASSIFY)
    complete_current(runtime, classified, L1, {"resolve_at_first_level": False, "assessment": "Needs logs."})
    task = runtime.get_ticket(classified).ready_tasks[0]
    with pytest.raises(InvalidInput) as refused:
        runtime.complete_task(task.id, {"problem_description": "Login fails after reset for many users",
                                        "troubleshooting_steps": [], "escalation_reason": "Server side bug"}, L1)
    assert [e.pointer for e in refused.value.errors] == ["/troubleshooting_steps"]


def test_temporary_workaround_needs_an_approver_and_a_follow_up(runtime: Runtime, classified: str) -> None:
    escalate_to_validation  # noqa: B018 - imported for symmetry with other tests
    complete_current(runtime, classified, L1, CLASSIFY)
    complete_current(runtime, classified, L1, {"resolve_at_first_level": False, "assessment": "Needs logs."})
    from tests.conftest import ESCALATE, INVESTIGATE

    complete_current(runtime, classified, L1, ESCALATE)
    complete_current(runtime, classified, L2, INVESTIGATE)
    task = runtime.get_ticket(classified).ready_tasks[0]
    with pytest.raises(InvalidInput) as refused:
        runtime.complete_task(task.id, {**FIX, "fix_kind": "temporary_workaround"}, L2)
    assert {e.pointer for e in refused.value.errors} == {"/workaround_approver", "/follow_up_reference"}
    approved = {**FIX, "fix_kind": "temporary_workaround", "workaround_approver": "Head of L2",
                "follow_up_reference": "PROB-42"}
    assert runtime.complete_task(task.id, approved, L2).status == "with_l1"


def test_task_of_another_lane_is_forbidden(runtime: Runtime, classified: str) -> None:
    task = runtime.get_ticket(classified).ready_tasks[0]
    before = _unchanged(runtime, classified)
    for outsider in (L2, CUSTOMER, Actor("audrey", "auditor"), Actor("petra", "process_owner")):
        with pytest.raises(Forbidden):
            runtime.complete_task(task.id, CLASSIFY, outsider)
        with pytest.raises(Forbidden):
            runtime.claim_task(task.id, outsider)
    assert _unchanged(runtime, classified) == before


def test_only_the_tickets_own_customer_answers_the_validation(runtime: Runtime, classified: str) -> None:
    escalate_to_validation(runtime, classified)
    task = runtime.get_ticket(classified).ready_tasks[0]
    with pytest.raises(NotFound):  # another customer's task does not exist for them: numbers do not leak
        runtime.complete_task(task.id, RESOLVED, Actor("mallory", "customer"))
    with pytest.raises(Forbidden):
        runtime.complete_task(task.id, RESOLVED, L1)  # L1 may not confirm for the customer
    assert runtime.complete_task(task.id, RESOLVED, CUSTOMER).status == "closed"


def test_completed_unknown_and_stale_tasks_are_conflicts(runtime: Runtime, classified: str) -> None:
    task = runtime.get_ticket(classified).ready_tasks[0]
    version = runtime.get_ticket(classified).version
    with pytest.raises(NotFound):
        runtime.complete_task("00000000-0000-0000-0000-000000000000", CLASSIFY, L1)
    with pytest.raises(Conflict, match="changed"):
        runtime.complete_task(task.id, CLASSIFY, L1, expected_version=version - 1)
    runtime.complete_task(task.id, CLASSIFY, L1, expected_version=version)
    with pytest.raises(Conflict, match="already completed"):
        runtime.complete_task(task.id, CLASSIFY, L1)
    assert kinds(runtime, classified).count("task_completed") == 1


def test_a_claimed_task_belongs_to_its_assignee_unless_an_admin_steps_in(runtime: Runtime, classified: str) -> None:
    task = runtime.get_ticket(classified).ready_tasks[0]
    runtime.claim_task(task.id, L1)
    other = Actor("lars", "l1")
    with pytest.raises(Conflict, match="already claimed"):
        runtime.claim_task(task.id, other)
    with pytest.raises(Conflict, match="assigned to lena"):
        runtime.complete_task(task.id, CLASSIFY, other)
    with pytest.raises(Conflict):
        runtime.release_task(task.id, other)
    admin = Actor("root", "admin")
    runtime.complete_task(task.id, CLASSIFY, admin)
    override = [e for e in runtime.ticket_history(classified) if e.kind == "admin_override"]
    assert override and override[0].actor == "root" and override[0].data["assignee"] == "lena"


def test_invalid_intake_is_refused_and_creates_no_ticket(runtime: Runtime) -> None:
    bad = replace(intake(), subject="", contact={}, channel="carrier-pigeon")
    with pytest.raises(InvalidInput) as refused:
        runtime.open_ticket(bad, CUSTOMER)
    assert {e.pointer for e in refused.value.errors} == {"/subject", "/contact", "/channel"}
    with pytest.raises(Forbidden):
        runtime.open_ticket(intake(customer="bob"), CUSTOMER)  # not for someone else
    with pytest.raises(Forbidden):
        runtime.open_ticket(intake(), L2)
    with pytest.raises(NotFound):
        runtime.get_ticket("T-000001")


def test_failing_handler_is_reported_with_its_real_error_and_leaves_the_ticket_retryable(
        sqlite_url: str, clock: FakeClock) -> None:
    from ticketflow.composition import deploy_file

    def kb_down(ctx, query):
        raise ConnectionError("knowledge base unreachable")

    broken = runtime_with(sqlite_url, clock, knowledge_base_search=kb_down)
    deploy_file(broken)
    number = broken.open_ticket(intake(), CUSTOMER).number
    task = broken.get_ticket(number).ready_tasks[0]
    before = _unchanged(broken, number)
    with pytest.raises(ServiceFailed) as failed:
        broken.complete_task(task.id, CLASSIFY, L1)
    assert "knowledge base unreachable" in str(failed.value) and "name 'script'" not in str(failed.value)
    assert failed.value.operator == "knowledge_base_search"
    assert _unchanged(broken, number) == before  # priority, outbox, history: all rolled back
    assert broken.get_ticket(number).priority is None
    healthy = runtime_with(sqlite_url, clock)
    assert healthy.complete_task(task.id, CLASSIFY, L1).priority == "P2"


def test_intake_is_never_lost_when_a_handler_fails_and_the_worker_retries_it(
        sqlite_url: str, clock: FakeClock) -> None:
    from ticketflow.composition import deploy_file

    def smtp_config_missing(ctx):
        raise RuntimeError("unit has no sender address")

    broken = runtime_with(sqlite_url, clock, acknowledge_ticket=smtp_config_missing)
    deploy_file(broken)
    view = broken.open_ticket(intake(), CUSTOMER)
    assert view.status == "stalled" and view.stalled_reason == CUSTOMER_STALL_NOTE  # the customer's view
    assert "no sender address" in (broken.get_ticket(view.number).stalled_reason or "")  # the team's
    assert "step_failed" in kinds(broken, view.number)
    clock.advance(minutes=6)
    assert runtime_with(sqlite_url, clock).fire_due_timers() == [view.number]
    healed = runtime_with(sqlite_url, clock).get_ticket(view.number)
    assert healed.status == "with_l1" and healed.stalled_reason is None
    assert [t.element_id for t in healed.ready_tasks] == ["classify_ticket"]
