"""Tamper evidence: chains and anchors name the first event edited, deleted, reordered or inserted in SQL."""
from __future__ import annotations

import pytest

from engine.access import Actor
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.runtime import Runtime
from engine.store.history import LINK_CHARS, event_hash
from engine.store.models import HistoryEvent
from engine.usecases.audit import AuditService
from tests.conftest import CUSTOMER, L1, RESOLVED, complete_current, intake
from tests.integration.helpers import escalate_to_validation, history_rows, rehash, tamper, ticket_row

AUDITOR = Actor("ada", "auditor")


@pytest.fixture
def audit(runtime: Runtime) -> AuditService:
    return AuditService(runtime)


@pytest.fixture
def closed(runtime: Runtime) -> str:
    """An escalated ticket played to its close: about 45 events."""
    number = runtime.open_ticket(intake(), CUSTOMER).number
    escalate_to_validation(runtime, number)
    complete_current(runtime, number, CUSTOMER, RESOLVED)
    return number


def ticket_id(runtime: Runtime, number: str) -> int:
    return ticket_row(runtime, number).id


def finding(audit: AuditService, number: str) -> tuple[int, str]:
    report = audit.verify_ticket(number)
    assert not report.ok and report.finding is not None, report
    return report.finding.seq, report.finding.problem


def test_an_untouched_history_verifies_and_the_report_is_plain_data(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    audit.anchor(AUDITOR)
    report = audit.verify_ticket(closed)
    head = ticket_row(runtime, closed).history_seq
    assert report.ok and report.finding is None and report.events == head
    assert report.anchored_seq == head and report.anchors == 1
    assert report.to_dict()["finding"] is None and report.to_dict()["number"] == closed


def test_editing_one_events_data_names_that_event(runtime: Runtime, audit: AuditService, closed: str) -> None:
    tamper(runtime, "UPDATE history_event SET data = :data WHERE ticket_id = :t AND seq = 6",
           data='{"form": {"type": "request", "impact": "low", "urgency": "low"}}', t=ticket_id(runtime, closed))
    assert finding(audit, closed) == (6, "altered")


def test_editing_an_event_and_recomputing_its_own_hash_still_names_it(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    tid = ticket_id(runtime, closed)
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE ticket_id = :t AND seq = 6", t=tid)
    edited = next(e for e in history_rows(runtime, closed) if e.seq == 6)
    tamper(runtime, "UPDATE history_event SET hash = :h WHERE ticket_id = :t AND seq = 6",
           h=bytes.fromhex(event_hash(edited)), t=tid)  # the column holds the digest's bytes
    assert finding(audit, closed) == (6, "altered")


def test_editing_an_event_and_recomputing_its_hash_over_the_whole_predecessor_names_it(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    # Events store only the start of their predecessor's hash, but their own hash covers all of it: a forger who
    # recomputes event 6 correctly still breaks event 7, and the short link names event 6 as the one changed.
    tid = ticket_id(runtime, closed)
    events = history_rows(runtime, closed)
    assert len(events[5].prev_hash) == LINK_CHARS
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE ticket_id = :t AND seq = 6", t=tid)
    edited = next(e for e in history_rows(runtime, closed) if e.seq == 6)
    tamper(runtime, "UPDATE history_event SET hash = :h WHERE ticket_id = :t AND seq = 6",
           h=bytes.fromhex(event_hash(edited, events[4].hash)), t=tid)
    report = audit.verify_ticket(closed)
    assert report.finding is not None and (report.finding.seq, report.finding.problem) == (6, "altered")
    assert "recomputed" in report.finding.detail


def test_deleting_the_last_event_is_named(runtime: Runtime, audit: AuditService, closed: str) -> None:
    head = ticket_row(runtime, closed).history_seq
    tamper(runtime, "DELETE FROM history_event WHERE ticket_id = :t AND seq = :s", t=ticket_id(runtime, closed), s=head)
    assert finding(audit, closed) == (head, "missing")


def test_deleting_the_last_event_and_rewinding_the_ticket_is_caught_by_the_anchor(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    audit.anchor(AUDITOR)
    row = ticket_row(runtime, closed)
    before_last = history_rows(runtime, closed)[-2]
    tamper(runtime, "DELETE FROM history_event WHERE ticket_id = :t AND seq = :s", t=row.id, s=row.history_seq)
    tamper(runtime, "UPDATE ticket SET history_seq = :s, history_head = :h WHERE id = :t",
           s=before_last.seq, h=before_last.hash, t=row.id)
    report = audit.verify_ticket(closed)
    assert report.finding is not None and (report.finding.seq, report.finding.problem) == (row.history_seq, "missing")
    assert "anchor 1" in report.finding.detail


def test_without_an_anchor_a_rewound_deletion_is_exactly_what_the_chain_cannot_see(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    # The reason anchors exist: the same tampering as above, before any anchor, passes the chain.
    row = ticket_row(runtime, closed)
    before_last = history_rows(runtime, closed)[-2]
    tamper(runtime, "DELETE FROM history_event WHERE ticket_id = :t AND seq = :s", t=row.id, s=row.history_seq)
    tamper(runtime, "UPDATE ticket SET history_seq = :s, history_head = :h WHERE id = :t",
           s=before_last.seq, h=before_last.hash, t=row.id)
    assert audit.verify_ticket(closed).ok
    audit.anchor(AUDITOR)  # from here on, the truncated history is what is pinned
    assert audit.verify_ticket(closed).anchored_seq == before_last.seq


def test_swapping_two_events_is_named_as_reordered(runtime: Runtime, audit: AuditService, closed: str) -> None:
    tid = ticket_id(runtime, closed)
    tamper(runtime, "UPDATE history_event SET seq = -1 WHERE ticket_id = :t AND seq = 9", t=tid)
    tamper(runtime, "UPDATE history_event SET seq = 9 WHERE ticket_id = :t AND seq = 10", t=tid)
    tamper(runtime, "UPDATE history_event SET seq = 10 WHERE ticket_id = :t AND seq = -1", t=tid)
    assert finding(audit, closed) == (9, "reordered")


def test_inserting_an_event_in_the_middle_is_named(runtime: Runtime, audit: AuditService, closed: str) -> None:
    tid = ticket_id(runtime, closed)
    events = history_rows(runtime, closed)
    for event in reversed(events[11:]):  # make room at seq 12 (one row at a time, for the unique key)
        tamper(runtime, "UPDATE history_event SET seq = seq + 1 WHERE ticket_id = :t AND seq = :s", t=tid, s=event.seq)
    forged = HistoryEvent(ticket_id=tid, seq=12, at=events[10].at, actor="lena", kind="task_completed",
                          element_id="escalate_to_l2", element_name="Escalate", lane="L1 Support", task_id=None,
                          data={"form": {}}, prev_hash=events[10].hash)
    forged.hash = event_hash(forged)  # a well-formed forgery that links to its predecessor
    with runtime.uow() as uow:
        uow.session.add(forged)
        uow.commit()
    assert finding(audit, closed) == (12, "inserted")


def test_appending_an_event_past_the_tickets_head_is_named(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    last = history_rows(runtime, closed)[-1]
    forged = HistoryEvent(ticket_id=last.ticket_id, seq=last.seq + 1, at=last.at, actor="root", kind="admin_override",
                          element_id=None, element_name=None, lane=None, task_id=None, data={}, prev_hash=last.hash)
    forged.hash = event_hash(forged)
    with runtime.uow() as uow:
        uow.session.add(forged)
        uow.commit()
    assert finding(audit, closed) == (last.seq + 1, "inserted")


def test_rewriting_the_chain_after_an_edit_is_caught_by_the_anchor(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    audit.anchor(AUDITOR)
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE ticket_id = :t AND seq = 6",
           t=ticket_id(runtime, closed))
    rehash(runtime, closed, from_seq=6)
    head = ticket_row(runtime, closed).history_seq
    assert finding(audit, closed) == (head, "rewritten")


def test_verify_all_names_only_the_tampered_tickets(runtime: Runtime, audit: AuditService, closed: str) -> None:
    others = [runtime.open_ticket(intake(), CUSTOMER).number for _ in range(4)]
    audit.anchor(AUDITOR)
    assert audit.verify_all(batch=2).ok
    tamper(runtime, "UPDATE history_event SET data = '{}' WHERE ticket_id = :t AND seq = 2",
           t=ticket_id(runtime, others[2]))
    report = audit.verify_all(batch=2)
    assert (report.ok, report.tickets, report.failed, report.anchors) == (False, 5, 1, 1)
    assert [(f.number, f.finding.seq, f.finding.problem) for f in report.failures if f.finding] == [
        (others[2], 2, "altered")]
    assert report.events < sum(ticket_row(runtime, n).history_seq for n in [closed, *others])


def test_anchors_record_only_tickets_changed_since_the_last_one(
        runtime: Runtime, audit: AuditService, closed: str) -> None:
    other = runtime.open_ticket(intake(), CUSTOMER).number
    first = audit.anchor(AUDITOR)
    assert (first.seq, first.tickets) == (1, 2)
    complete_current(runtime, other, L1, {"type": "incident", "impact": "low", "urgency": "low"})
    second = audit.anchor(AUDITOR)
    assert (second.seq, second.tickets, second.prev_hash) == (2, 1, first.hash)
    assert audit.verify_ticket(other).anchored_seq == ticket_row(runtime, other).history_seq
    assert audit.anchor_if_due(AUDITOR) is None  # the last anchor is younger than a day


def test_an_altered_anchor_or_anchor_entry_is_reported(runtime: Runtime, audit: AuditService, closed: str) -> None:
    audit.anchor(AUDITOR)
    tamper(runtime, "UPDATE audit_anchor_entry SET head_seq = head_seq - 1")
    report = audit.verify_ticket(closed)
    assert not report.ok and "anchor 1's entries were altered" in (report.anchor_problem or "")
    assert "altered" in (audit.verify_all().anchor_problem or "")


def test_anchoring_takes_an_auditor_or_an_admin(audit: AuditService) -> None:
    with pytest.raises(Forbidden):
        audit.anchor(CUSTOMER)


def test_auditor_reads_are_recorded_and_bad_ones_refused(audit: AuditService, closed: str) -> None:
    view = audit.record_access(AUDITOR, closed, "replay", {"until": 4})
    audit.record_access(AUDITOR, None, "export", {"from": "2026-03-01"})
    assert (view.actor, view.role, view.what, view.ticket, view.detail) == ("ada", "auditor", "replay", closed,
                                                                            {"until": 4})
    assert [a.what for a in audit.access_log(closed)] == ["replay"]
    assert [a.what for a in audit.access_log()] == ["export", "replay"]
    with pytest.raises(InvalidInput):
        audit.record_access(AUDITOR, closed, "delete")
    with pytest.raises(NotFound):
        audit.record_access(AUDITOR, "T-999999", "history")
    with pytest.raises(NotFound):
        audit.verify_ticket("T-999999")


# -- the command line -------------------------------------------------------------------------------
@pytest.fixture
def cli(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `ticketflow ...` against the test database; returns (exit code, stdout)."""
    from ticketflow.cli import main

    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)

    def run(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().out

    return run


def test_cli_verify_anchor_and_verify_all(runtime: Runtime, closed: str, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("audit", "verify", closed) == (0, f"{closed}: OK ({ticket_row(runtime, closed).history_seq} events, "
                                                 "not anchored yet)\n")
    code, out = cli("audit", "anchor")
    assert code == 0 and out.startswith("anchor 1 at ") and "1 ticket(s) changed" in out
    code, out = cli("audit", "verify", "--all")
    assert code == 0 and "OK: 1 tickets" in out and "1 anchors checked" in out


def test_cli_verify_exits_1_and_prints_the_failing_event(runtime: Runtime, closed: str, cli) -> None:  # type: ignore[no-untyped-def]
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE ticket_id = :t AND seq = 7",
           t=ticket_id(runtime, closed))
    code, out = cli("audit", "verify", closed)
    assert code == 1 and f"{closed}: FAILED at event 7 (altered)" in out
    code, out = cli("audit", "verify", "--all")
    assert code == 1 and f"{closed}: FAILED at event 7 (altered)" in out and "1 failing" in out


def test_cli_replay_prints_each_step_then_consistent_or_the_divergence(
        runtime: Runtime, closed: str, cli) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("replay", closed)
    lines = out.splitlines()
    assert code == 0 and lines[-1].startswith("consistent (")
    assert len(lines) == ticket_row(runtime, closed).history_seq + 2 and "ticket_opened" in lines[1]
    code, out = cli("replay", closed, "--until", "5")
    assert code == 0 and out.splitlines()[-1] == "consistent (5 events)"
    gateway = next(e for e in history_rows(runtime, closed) if e.kind == "gateway_taken")
    tamper(runtime, "UPDATE history_event SET data = '{}' WHERE ticket_id = :t AND seq = :s",
           t=gateway.ticket_id, s=gateway.seq)
    rehash(runtime, closed, from_seq=gateway.seq)
    code, out = cli("replay", closed)
    assert code == 1 and f"divergence at event {gateway.seq}" in out
    assert "  recorded: " in out and "  replayed: " in out


def test_cli_export_writes_a_file(runtime: Runtime, closed: str, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "events.csv"
    code, _ = cli("audit", "export", "--from", "2026-03-01T00:00:00+00:00", "--to", "2026-03-03T00:00:00Z",
                  "--format", "csv", "-o", str(target))
    assert code == 0
    assert len(target.read_text().splitlines()) == ticket_row(runtime, closed).history_seq + 1
    code, out = cli("audit", "export", "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-03T00:00:00Z")
    assert code == 0 and len(out.splitlines()) == ticket_row(runtime, closed).history_seq


def test_cli_refuses_bad_arguments(runtime: Runtime, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("replay", "T-000404")[0] == 1
    assert cli("audit", "verify", "T-000404")[0] == 1
    with pytest.raises(SystemExit):
        cli("audit", "export", "--from", "2026-03-01", "--to", "2026-03-03T00:00:00Z")  # no offset
    with pytest.raises(SystemExit):
        cli("audit", "verify")
