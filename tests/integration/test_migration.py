"""Running tickets move to a new version one transaction each, with a recorded migration the replay repeats."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from lxml import etree

from engine.errors import Forbidden, InvalidInput, NotFound
from engine.execution.clock import FakeClock
from engine.process.definitions import read_bundle
from engine.process.lint import NS
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from engine.usecases.migrations import MigrationRequest, Migrations, TicketMove
from tests.conftest import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    ESCALATE,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    OWNER,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import kinds
from ticketflow.composition import BUNDLED_DIAGRAM

BPMN, FORMS = read_bundle(BUNDLED_DIAGRAM)


def with_classify_renamed(name: str) -> bytes:
    root = etree.fromstring(BPMN)
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_classify_id_changed() -> bytes:
    """Version where the classification task has a new id (SpiffWorkflow aligns it by its place in the flow)."""
    return BPMN.replace(b'"classify_ticket"', b'"triage_ticket"').replace(b">classify_ticket<", b">triage_ticket<")


def without_classification() -> bytes:
    """Version with no classification task: registration leads straight to the priority step."""
    root = etree.fromstring(BPMN)

    def drop(path: str) -> None:
        for element in root.xpath(path, namespaces=NS):
            element.getparent().remove(element)

    for path in ("//bpmn:userTask[@id='classify_ticket']", "//bpmn:flowNodeRef[text()='classify_ticket']",
                 "//bpmn:sequenceFlow[@id='flow_classify_priority']",
                 "//bpmn:outgoing[text()='flow_classify_priority']",
                 "//*[@bpmnElement='classify_ticket' or @bpmnElement='flow_classify_priority']"):
        drop(path)
    root.xpath("//bpmn:sequenceFlow[@id='flow_register_classify']", namespaces=NS)[0].set("targetRef",
                                                                                          "derive_priority")
    root.xpath("//bpmn:incoming[text()='flow_classify_priority']", namespaces=NS)[0].text = "flow_register_classify"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def deploy(runtime: Runtime, bpmn: bytes) -> int:
    row, created = runtime.deploy(bpmn, FORMS, OWNER, activate=False)
    assert created
    return row.version


def request(**fields: object) -> MigrationRequest:
    return MigrationRequest(**{"key": "support_ticket", "from_version": 1, "to_version": 2, **fields})  # type: ignore


def test_a_dry_run_says_where_each_ticket_stands_and_changes_nothing(runtime: Runtime) -> None:
    waiting = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    before = runtime.get_ticket(waiting)
    moves = Migrations(runtime).run(request(dry_run=True), OWNER)
    assert moves == [TicketMove(waiting, "movable", ("Classify type and priority",))]
    after = runtime.get_ticket(waiting)
    assert (after.version, after.definition_version) == (before.version, 1)


def test_a_moved_ticket_follows_the_new_version_and_still_replays_consistent(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    assert [m.outcome for m in Migrations(runtime).run(request(), OWNER)] == ["moved"]

    ticket = runtime.get_ticket(number)
    assert ticket.definition_version == 2 and [t.name for t in ticket.ready_tasks] == ["Classify the request"]
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, ASSESS_RESOLVE)
    history = [e.kind for e in runtime.ticket_history(number)]
    assert "definition_migrated" in history
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence


def test_a_changed_element_id_is_aligned_by_its_place_in_the_flow(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_id_changed())
    assert Migrations(runtime).run(request(), OWNER)[0].outcome == "moved"
    assert [t.element_id for t in runtime.get_ticket(number).ready_tasks] == ["triage_ticket"]
    complete_current(runtime, number, L1, CLASSIFY)
    assert AuditService(runtime).replay(number).consistent


def test_a_ticket_at_an_element_the_target_lacks_is_refused_until_it_is_mapped(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, without_classification())
    refused = Migrations(runtime).run(request(), OWNER)
    assert refused[0].outcome == "refused" and "no counterpart for 'Classify type and priority'" in refused[0].reason
    ticket = runtime.get_ticket(number)
    assert ticket.definition_version == 1 and [t.element_id for t in ticket.ready_tasks] == ["classify_ticket"]

    moved = Migrations(runtime).run(request(mapping={"classify_ticket": "assess_first_level"}), OWNER)
    assert moved[0].outcome == "moved"
    ready = runtime.get_ticket(number).ready_tasks
    assert [(t.element_id, t.name) for t in ready] == [("assess_first_level", "Assess known resolution")]
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence


def test_an_interrupted_bulk_run_resumes_where_it_stopped(runtime: Runtime) -> None:
    numbers = [runtime.open_ticket(intake(subject=f"Login problem {i}"), CUSTOMER).number for i in range(5)]
    deploy(runtime, with_classify_renamed("Classify the request"))
    seen: list[TicketMove] = []

    def stop_after_two(move: TicketMove) -> None:
        seen.append(move)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Migrations(runtime).run(request(), OWNER, progress=stop_after_two)
    assert [runtime.get_ticket(n).definition_version for n in numbers] == [2, 2, 1, 1, 1]
    rest = Migrations(runtime).run(request(), OWNER)
    assert [m.number for m in rest] == numbers[2:] and {m.outcome for m in rest} == {"moved"}


# -- tickets waiting at each wait state move, replay consistent, and finish their lifecycle ---------------------
RENAMED = {"classify_ticket": "Classify the request", "assess_first_level": "Check for a known solution",
           "escalate_to_l2": "Hand over to L2", "investigate_root_cause": "Find the root cause",
           "apply_definitive_fix": "Fix the root cause", "apply_solution": "Apply and document the solution",
           "test_and_confirm": "Try the fix and tell us", "follow_up_with_customer": "Call the customer"}
Action = Callable[[Runtime, FakeClock, str], object]


def every_user_task_renamed() -> bytes:
    root = etree.fromstring(BPMN)
    for element, name in RENAMED.items():
        root.xpath(f"//bpmn:userTask[@id='{element}']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def step(actor: object, form: dict) -> Action:
    return lambda runtime, clock, number: complete_current(runtime, number, actor, form)  # type: ignore[arg-type]


def window_passes(runtime: Runtime, clock: FakeClock, number: str) -> None:
    clock.advance(days=3, seconds=1)  # the general unit's response window: one reminder
    assert runtime.fire_due_timers() == [number]


CALL = {"follow_up_channel": "phone", "follow_up_outcome": "will_test",
        "follow_up_notes": "Reached Alice; she tests this afternoon."}
TO_L1 = [step(L1, CLASSIFY), step(L1, ASSESS_ESCALATE), step(L1, ESCALATE)]
TO_FIX = [*TO_L1, step(L2, INVESTIGATE), step(L2, FIX)]
TO_VALIDATION = [*TO_FIX, step(L1, SOLUTION)]
ENDING = [step(CUSTOMER, RESOLVED)]
WAIT_STATES: dict[str, tuple[list[Action], list[str], list[Action]]] = {  # before, waiting at, after
    "classify": ([], ["classify_ticket"], [step(L1, CLASSIFY), step(L1, ASSESS_RESOLVE), step(L1, SOLUTION), *ENDING]),
    "assess": ([step(L1, CLASSIFY)], ["assess_first_level"], [step(L1, ASSESS_RESOLVE), step(L1, SOLUTION), *ENDING]),
    "escalate": (TO_L1[:2], ["escalate_to_l2"], [step(L1, ESCALATE), step(L2, INVESTIGATE), step(L2, FIX),
                                                 step(L1, SOLUTION), *ENDING]),
    "investigate": (TO_L1, ["investigate_root_cause"], [step(L2, INVESTIGATE), step(L2, FIX), step(L1, SOLUTION),
                                                        *ENDING]),
    "fix": (TO_FIX[:-1], ["apply_definitive_fix"], [step(L2, FIX), step(L1, SOLUTION), *ENDING]),
    "apply solution": (TO_FIX, ["apply_solution"], [step(L1, SOLUTION), *ENDING]),
    "customer's test, after a reminder": ([*TO_VALIDATION, window_passes], ["test_and_confirm"],
                                          [window_passes, *ENDING]),
    "L1's follow-up call": ([*TO_VALIDATION, *[window_passes] * 4], ["follow_up_with_customer", "test_and_confirm"],
                            [step(L1, CALL), *ENDING]),
}


def ready_ids(runtime: Runtime, number: str) -> list[str]:
    return sorted(t.element_id for t in runtime.get_ticket(number).ready_tasks)


@pytest.mark.parametrize("state", list(WAIT_STATES))
def test_a_ticket_waiting_at_each_wait_state_moves_replays_and_finishes(
        runtime: Runtime, clock: FakeClock, state: str) -> None:
    before, waiting, after = WAIT_STATES[state]
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for action in before:
        action(runtime, clock, number)
    assert ready_ids(runtime, number) == waiting
    deploy(runtime, every_user_task_renamed())
    seen = runtime.get_ticket(number)

    planned = Migrations(runtime).run(request(numbers=[number], dry_run=True), OWNER)
    assert [m.outcome for m in planned] == ["movable"], planned
    assert {runtime.get_ticket(number).ready_tasks[0].name} <= set(planned[0].standing)
    unchanged = runtime.get_ticket(number)
    assert (unchanged.version, unchanged.definition_version, unchanged.ready_tasks) == (
        seen.version, 1, seen.ready_tasks)

    moved = Migrations(runtime).run(request(numbers=[number]), OWNER)
    assert moved == [TicketMove(number, "moved", planned[0].standing)]
    ticket = runtime.get_ticket(number)
    assert ticket.definition_version == 2 and ready_ids(runtime, number) == waiting
    assert sorted(t.name for t in ticket.ready_tasks) == sorted(RENAMED[e] for e in waiting)
    assert sorted(t.name for t in runtime.list_tasks()) == sorted(RENAMED[e] for e in waiting)  # the worklist too
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence

    for action in after:
        action(runtime, clock, number)
    assert runtime.get_ticket(number).status == "closed"
    assert kinds(runtime, number).count("definition_migrated") == 1
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence



def test_a_waiting_reminder_keeps_its_schedule_and_the_next_round_follows_the_new_cycle(
        runtime: Runtime, clock: FakeClock) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for action in [*TO_VALIDATION, window_passes]:
        action(runtime, clock, number)
    due = runtime.get_ticket(number).next_timer_at
    root = etree.fromstring(BPMN)
    root.xpath("//bpmn:timeCycle", namespaces=NS)[0].text = '"R/" + validation_request["respond_by"] + "/PT12H"'
    deploy(runtime, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    clock.advance(hours=1)
    assert Migrations(runtime).run(request(), OWNER)[0].outcome == "moved"
    assert runtime.get_ticket(number).next_timer_at == due and kinds(runtime, number).count("timer_fired") == 1
    assert runtime.fire_due_timers() == []  # nothing fired or sent by the move itself
    window_passes(runtime, clock, number)  # the running cycle goes on as it was: every 3 days
    for action in [step(CUSTOMER, PERSISTS), step(L2, INVESTIGATE), step(L2, FIX), step(L1, SOLUTION)]:
        action(runtime, clock, number)
    asked = runtime.get_ticket(number).next_timer_at
    assert asked is not None
    clock.now = asked + timedelta(seconds=1)
    assert runtime.fire_due_timers() == [number]
    assert runtime.get_ticket(number).next_timer_at == asked + timedelta(hours=12)  # the new round: the new cycle
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    report = AuditService(runtime).replay(number)
    assert report.consistent, report.divergence


# -- refusals: nothing changes ----------------------------------------------------------------------------
def test_moving_tickets_to_an_older_version_is_refused_with_the_reason(runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    Migrations(runtime).run(request(), OWNER)
    seen = runtime.get_ticket(number)
    for dry_run in (True, False):
        with pytest.raises(InvalidInput) as refused:
            Migrations(runtime).run(request(from_version=2, to_version=1, dry_run=dry_run), OWNER)
        [error] = refused.value.errors
        assert error.pointer == "/to" and "older" in error.message and "new version" in error.message
    after = runtime.get_ticket(number)
    assert (after.version, after.definition_version) == (seen.version, 2)


REFUSED: dict[str, tuple[dict[str, object], type[Exception], str]] = {
    "the same version": ({"to_version": 1}, InvalidInput, "/to"),
    "an unknown target": ({"to_version": 9}, NotFound, ""),
    "an unknown source": ({"from_version": 7, "to_version": 9}, NotFound, ""),
    "a mapping from nowhere": ({"mapping": {"nowhere": "classify_ticket"}}, InvalidInput, "/mapping/nowhere"),
    "a mapping to nowhere": ({"mapping": {"classify_ticket": "nowhere"}}, InvalidInput, "/mapping/classify_ticket"),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_bad_migration_request_is_refused_and_changes_nothing(runtime: Runtime, case: str, dry_run: bool) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    deploy(runtime, with_classify_renamed("Classify the request"))
    seen = runtime.get_ticket(number)
    fields, error, pointer = REFUSED[case]
    with pytest.raises(error) as refused:
        Migrations(runtime).run(request(dry_run=dry_run, **fields), OWNER)
    if pointer:
        assert [e.pointer for e in refused.value.errors] == [pointer]  # type: ignore[attr-defined]
    after = runtime.get_ticket(number)
    assert (after.version, after.definition_version, after.ready_tasks) == (seen.version, 1, seen.ready_tasks)
    assert "definition_migrated" not in kinds(runtime, number)


def test_only_a_process_owner_or_an_admin_moves_tickets(runtime: Runtime) -> None:
    runtime.open_ticket(intake(), CUSTOMER)
    deploy(runtime, with_classify_renamed("Classify the request"))
    with pytest.raises(Forbidden):
        Migrations(runtime).run(request(), L1)
    assert runtime.get_ticket("T-000001").definition_version == 1
