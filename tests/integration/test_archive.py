"""Archiving closed tickets: their bulky parts go, their history stays, and they still verify, replay and show."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from engine.execution import workflow_state
from engine.execution.clock import FakeClock
from engine.execution.steps import Execution
from engine.runtime import Runtime
from engine.store import history
from engine.store.models import HistoryEvent, HumanTask, OutboxMessage, Ticket
from engine.usecases.archive import ArchiveService
from engine.usecases.audit import AuditService
from tests.api.conftest import make_api
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, RESOLVED, SOLUTION, complete_current, intake
from tests.e2e.conftest import Visitor
from tests.integration.helpers import escalate_to_validation, history_rows, ticket_row
from ticketflow import cli
from ticketflow.cli_archive import RETENTION_SETTING


def resolved_at_first_level(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for actor, data in ((L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION), (CUSTOMER, RESOLVED)):
        complete_current(runtime, number, actor, data)
    return number


@contextmanager
def as_before_the_storage_change(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tickets stepped inside keep their finished workflow state, record every digest each time and store their
    predecessors' whole hashes, as tickets stepped before these changes did (their history and rows are what an
    upgraded database holds)."""
    with monkeypatch.context() as patched:
        patched.setattr(Execution, "_stored_state", lambda self: workflow_state.dump(self.workflow))
        patched.setattr(Execution, "_digest_changes", lambda self, whole: whole)
        patched.setattr(history, "link", lambda predecessor: predecessor)
        yield


def deliver_all(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        uow.session.execute(update(OutboxMessage).values(state="delivered", sent_at=runtime.clock()))
        uow.commit()


def parts(runtime: Runtime, number: str) -> dict[str, int]:
    """What archiving may drop, and the history it must not touch, of one ticket."""
    with runtime.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()

        def count(query: object) -> int:
            return uow.session.scalar(query) or 0  # type: ignore[call-overload]
        return {
            "workflow": len(ticket.workflow),
            "done_tasks": count(select(func.count()).select_from(HumanTask).where(
                HumanTask.ticket_id == ticket.id, HumanTask.state != "ready")),
            "html": count(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket.id, OutboxMessage.html.is_not(None))),
            "bodies": count(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket.id, OutboxMessage.body != "")),
            "subjects": count(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket.id, OutboxMessage.subject != "")),
            "events": count(select(func.count()).select_from(HistoryEvent).where(HistoryEvent.ticket_id == ticket.id)),
        }


def test_a_ticket_closed_now_keeps_no_workflow_state_and_still_shows_its_data(runtime: Runtime) -> None:
    number = resolved_at_first_level(runtime)
    assert ticket_row(runtime, number).workflow == ""
    runtime.workflows = type(runtime.workflows)()  # another process: nothing kept in memory
    data = runtime.ticket_data(number)
    assert data["validation_outcome"] == "resolved" and data["priority"] == "P2"
    assert AuditService(runtime).replay(number).consistent


def test_archiving_drops_the_bulky_parts_and_keeps_history_pages_and_replay(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    with as_before_the_storage_change(monkeypatch):
        old = resolved_at_first_level(runtime)
    new = resolved_at_first_level(runtime)
    open_one = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, open_one)
    deliver_all(runtime)
    before = {n: (parts(runtime, n), runtime.ticket_data(n), runtime.ticket_history(n)) for n in (old, new, open_one)}
    assert before[old][0]["workflow"] > 0 and before[old][0]["done_tasks"] == 4 and before[old][0]["html"] == 4

    clock.advance(days=31)
    report = ArchiveService(runtime).archive(timedelta(days=30))
    assert (report.tickets, report.workflows, report.worklist_rows, report.message_copies) == (2, 1, 8, 8)
    for number in (old, new):
        after = parts(runtime, number)
        assert after == {**before[number][0], "workflow": 0, "done_tasks": 0, "html": 0, "bodies": 0,
                         "subjects": 0}  # events kept
        runtime.workflows = type(runtime.workflows)()
        assert runtime.ticket_data(number) == before[number][1]
        assert runtime.ticket_history(number) == before[number][2]
    assert parts(runtime, open_one) == before[open_one][0]  # open: untouched
    audit = AuditService(runtime)
    links = {n: {len(e.prev_hash) for e in history_rows(runtime, n)} for n in (old, new)}
    assert links == {old: {64}, new: {history.LINK_CHARS}}  # both formats of the chain, side by side
    assert audit.verify_all().ok
    assert all(audit.replay(n).consistent for n in (old, new, open_one))
    assert audit.as_of(old, 5).consistent

    api = make_api(runtime)
    agent, auditor = Visitor(api.app.test_client()), Visitor(api.app.test_client())
    agent.sign_in(api.tokens["lena"])
    auditor.sign_in(api.tokens["aude"])
    for number in (old, new):
        shown = api.as_("root").get(f"/api/v1/tickets/{number}")
        assert shown.status_code == 200 and shown.json is not None and shown.json["status"] == "closed"
        assert api.as_("alice").get(f"/api/v1/tickets/{number}").status_code == 200
        assert api.as_("root").get(f"/api/v1/tickets/{number}/messages").status_code == 200
        replayed = api.as_("aude").get(f"/api/v1/tickets/{number}/replay").json
        assert replayed is not None and replayed["outcome"] == "consistent"
        assert number in agent.get(f"/tickets/{number}").text
        assert "Resolution applied" in agent.get(f"/tickets/{number}").text  # the message, from the outbox
        said = api.as_("alice").get(f"/api/v1/tickets/{number}/messages").json
        words = [item["body"] for item in said["items"] if item["kind"] == "email"]  # from the history now
        assert len(words) == 4 and all(w.startswith("Hello") for w in words)
        subjects = [item["subject"] for item in said["items"] if item["kind"] == "email"]
        assert all(f"[{number}]" in subject for subject in subjects)
        assert number in auditor.get(f"/tickets/{number}/as-of?seq=5").text
    listed = api.as_("root").get("/api/v1/outbox?limit=100").json  # the admin's list: from the history too
    assert listed is not None and listed["items"]
    assert all(item["subject"].startswith("[T-") and item["text"].startswith("Hello") for item in listed["items"]
               if item["ticket"] in (old, new))
    one = listed["items"][-1]
    shown = api.as_("root").get(f"/api/v1/outbox/{one['id']}").json
    assert shown is not None and (shown["subject"], shown["text"]) == (one["subject"], one["text"])
    assert ArchiveService(runtime).archive(timedelta(days=30)).tickets == 0  # nothing left to drop


def test_only_tickets_closed_before_the_retention_are_archived_and_a_dry_run_changes_nothing(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    with as_before_the_storage_change(monkeypatch):
        early = resolved_at_first_level(runtime)
        clock.advance(days=20)
        late = resolved_at_first_level(runtime)
    clock.advance(days=10)  # early closed 30 days ago, late 10
    snapshot = {n: parts(runtime, n) for n in (early, late)}
    dry = ArchiveService(runtime).archive(timedelta(days=15), dry_run=True)
    assert (dry.tickets, dry.workflows, dry.worklist_rows, dry.dry_run) == (1, 1, 4, True)
    assert {n: parts(runtime, n) for n in (early, late)} == snapshot
    done = ArchiveService(runtime).archive(timedelta(days=15))
    assert (done.tickets, done.workflows, done.worklist_rows) == (1, 1, 4)
    assert parts(runtime, early)["workflow"] == 0 and parts(runtime, late) == snapshot[late]


def test_bad_retention_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    from engine.errors import InvalidInput

    number = resolved_at_first_level(runtime)
    snapshot = parts(runtime, number)
    with pytest.raises(InvalidInput) as refused:
        ArchiveService(runtime).archive(timedelta(days=-1))
    assert refused.value.errors[0].pointer == "/older_than"
    assert parts(runtime, number) == snapshot


def test_the_archive_command_says_what_it_dropped(
        sqlite_url: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with as_before_the_storage_change(monkeypatch):
        number = resolved_at_first_level(runtime)
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    monkeypatch.setenv(RETENTION_SETTING, "0")  # the clock of the command is the real one: the ticket is older
    assert cli.main(["archive", "--dry-run"]) == 0
    assert "would drop 1 stored workflow state(s), 4 finished worklist row(s)" in capsys.readouterr().out
    assert parts(runtime, number)["workflow"] > 0
    assert cli.main(["archive", "--older-than", "0"]) == 0
    assert "history is kept" in capsys.readouterr().out and parts(runtime, number)["workflow"] == 0
    assert cli.main(["archive"]) == 0 and "nothing to archive" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        cli.main(["archive", "--older-than", "-3"])
    assert bad.value.code == 2 and "whole number of days" in capsys.readouterr().err
    monkeypatch.setenv(RETENTION_SETTING, "soon")
    assert cli.main(["archive"]) == 1 and RETENTION_SETTING in capsys.readouterr().err


def test_the_worker_archives_once_a_day_when_a_retention_is_set(
        runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    from ticketflow.worker import archive_if_due

    with as_before_the_storage_change(monkeypatch):
        number = resolved_at_first_level(runtime)
    monkeypatch.delenv(RETENTION_SETTING, raising=False)
    assert archive_if_due(runtime) is None
    monkeypatch.setenv(RETENTION_SETTING, "7")
    clock.advance(days=8)
    report = archive_if_due(runtime)
    assert report is not None and report.workflows == 1 and parts(runtime, number)["workflow"] == 0
    assert archive_if_due(runtime) is None  # not again the same day
    assert json.loads(json.dumps(report.to_dict()))["tickets"] == 1


def test_archiving_on_postgresql(postgres_url: str, runtimes: Any, clock: FakeClock,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from ticketflow.composition import deploy_file

    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    with as_before_the_storage_change(monkeypatch):
        old = resolved_at_first_level(runtime)
    new = resolved_at_first_level(runtime)
    deliver_all(runtime)
    data = {n: runtime.ticket_data(n) for n in (old, new)}
    clock.advance(days=2)
    report = ArchiveService(runtime).archive(timedelta(days=1))
    assert (report.tickets, report.workflows, report.worklist_rows, report.message_copies) == (2, 1, 8, 8)
    runtime.workflows = type(runtime.workflows)()
    assert {n: runtime.ticket_data(n) for n in (old, new)} == data
    audit = AuditService(runtime)
    assert audit.verify_all().ok and all(audit.replay(n).consistent for n in (old, new))
