"""The auditors' pages: an auditor lands on /audit, verifies every ticket by a button and sees a tampered ticket
named, reads one ticket's chain and replay in words, follows the way to the history stepper, downloads histories
and exports; their reads are recorded; agents and customers are turned away."""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from engine.access import Actor
from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, L1, complete_current, intake
from tests.e2e.conftest import Page
from tests.integration.helpers import history_rows, rehash, tamper


def opened(runtime: Runtime, customer: str = "alice") -> str:
    return runtime.open_ticket(intake(customer=customer), Actor(customer, "customer")).number


def classified(runtime: Runtime) -> str:
    number = opened(runtime)
    complete_current(runtime, number, L1, CLASSIFY)
    return number


def reads(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    return [(a.actor, a.what, a.ticket) for a in reversed(AuditService(runtime).access_log(None, 1000))]


def test_an_auditor_lands_on_the_audit_page_and_verifies_everything(runtime: Runtime, visit: Any) -> None:
    first, second = classified(runtime), opened(runtime, "bob")
    ada = visit("ada")
    landing = ada.get("/", status=302)
    assert landing.headers["Location"].endswith("/audit")
    page = Page.of(ada.get("/audit").text)
    assert page.text_of["verify-badge"].strip() == "Not run yet"
    ada.post("/audit/verify", {})
    page = Page.of(ada.get("/audit").text)
    assert page.text_of["verify-badge"].strip() == "Intact"
    assert "All 2 tickets' chains" in page.text_of["verify-verdict"]
    assert "Last run 2026-03-02" in page.text_of["verify-last"] and "by ada" in page.text_of["verify-last"]
    assert "broken" not in page.text_of

    tamper(runtime, "UPDATE history_event SET data = :d WHERE seq = 2 AND ticket_id = "
           "(SELECT id FROM ticket WHERE number = :n)", d=json.dumps({"forged": True}), n=second)
    ada.post("/audit/verify", {})
    html = ada.get("/audit").text
    page = Page.of(html)
    assert page.text_of["verify-badge"].strip() == "Broken"
    assert f"1 ticket broken: {second}." in page.text_of["verify-verdict"]
    assert second in page.text_of["broken"] and first not in page.text_of["broken"]
    assert f"/tickets/{second}/audit" in page.links
    assert ("ada", "audit", None) in reads(runtime)


def test_the_verify_button_needs_the_pages_csrf_token(runtime: Runtime, visit: Any) -> None:
    opened(runtime)
    ada = visit("ada")
    ada.get("/audit")
    ada.post("/audit/verify", {}, status=403, csrf="forged")
    assert AuditService(runtime).access_log() == []  # nothing ran, nothing recorded


def test_an_admin_runs_verify_all_and_lands_on_the_admin_page(runtime: Runtime, visit: Any) -> None:
    opened(runtime)
    root = visit("root")
    assert root.get("/", status=302).headers["Location"].endswith("/admin")
    root.get("/audit")
    root.post("/audit/verify", {})
    page = Page.of(root.get("/audit").text)
    assert page.text_of["verify-badge"].strip() == "Intact" and "by root" in page.text_of["verify-last"]


def test_a_tickets_audit_page_shows_the_chain_and_a_consistent_replay(runtime: Runtime, visit: Any) -> None:
    number = classified(runtime)
    head = len(runtime.ticket_history(number))
    ada = visit("ada")
    html = ada.get(f"/tickets/{number}/audit").text
    page = Page.of(html)
    assert page.text_of["chain-badge"].strip() == "Chain verified"
    assert f"All {head} events link up" in page.text_of["chain-words"]
    assert page.text_of["replay-badge"].strip() == "Consistent"
    assert f"all {head} events agree" in page.text_of["replay-words"]
    assert "reproduced exactly" in page.text_of["replay-steps"]
    assert f"/tickets/{number}/as-of?seq=1" in page.links and f"/tickets/{number}/as-of?seq={head}" in page.links
    ada.get(f"/tickets/{number}/as-of?seq={head}")  # the link leads to the stepper
    assert [(w, t) for a, w, t in reads(runtime) if a == "ada"][:2] == [("audit", number), ("replay", number)]


def test_a_rewritten_history_shows_where_the_replay_diverged_in_words(runtime: Runtime, visit: Any) -> None:
    number = classified(runtime)
    complete_current(runtime, number, L1, ASSESS_ESCALATE)
    gateway = next(e for e in history_rows(runtime, number) if e.kind == "gateway_taken")
    tamper(runtime, "UPDATE history_event SET data = '{}' WHERE ticket_id = :t AND seq = :s",
           t=gateway.ticket_id, s=gateway.seq)
    rehash(runtime, number, from_seq=gateway.seq)  # the chain no longer gives the edit away: the replay must
    page = Page.of(visit("ada").get(f"/tickets/{number}/audit").text)
    assert page.text_of["chain-badge"].strip() == "Chain verified"
    assert page.text_of["replay-badge"].strip() == "Diverged"
    assert f"Replaying diverged at event {gateway.seq}" in page.text_of["replay-words"]
    assert "Recorded" in page.text_of["divergence"] and "Produced by the replay" in page.text_of["divergence"]
    assert f"/tickets/{number}/as-of?seq={gateway.seq}" in page.links


def test_a_broken_chain_names_the_event_in_words(runtime: Runtime, visit: Any) -> None:
    number = classified(runtime)
    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE seq = 3 AND ticket_id = "
           "(SELECT id FROM ticket WHERE number = :n)", n=number)
    page = Page.of(visit("ada").get(f"/tickets/{number}/audit").text)
    assert page.text_of["chain-badge"].strip() == "Chain broken"
    assert page.text_of["chain-words"].strip().startswith("Event 3 was altered")


def test_histories_and_exports_download_and_parse(runtime: Runtime, visit: Any) -> None:
    first, second = classified(runtime), opened(runtime, "bob")
    events = runtime.ticket_history(first)
    ada = visit("ada")
    response = ada.get(f"/tickets/{first}/audit/history.jsonl")
    assert response.mimetype == "application/x-ndjson" and "attachment" in response.headers["Content-Disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["seq"] for line in lines] == [e.seq for e in events]
    assert {line["ticket"] for line in lines} == {first} and lines[-1]["hash"] == events[-1].hash
    rows = list(csv.DictReader(io.StringIO(ada.get(f"/tickets/{first}/audit/history.csv").text)))
    assert [int(r["seq"]) for r in rows] == [e.seq for e in events] and rows[0]["kind"] == "ticket_opened"
    assert json.loads(rows[0]["data"])["subject"] == events[0].data["subject"]

    everything = ada.get("/audit/export?from=2026-03-02&to=2026-03-02&format=jsonl")
    exported = [json.loads(line) for line in everything.text.splitlines()]
    assert {line["ticket"] for line in exported} == {first, second}
    assert len(exported) == len(events) + len(runtime.ticket_history(second))
    table = list(csv.DictReader(io.StringIO(ada.get("/audit/export?from=2026-03-01&to=2026-03-03&format=csv").text)))
    assert len(table) == len(exported) and set(table[0]) >= {"ticket", "seq", "prev_hash", "hash"}
    assert ada.get("/audit/export?from=2026-03-03&to=2026-03-03&format=jsonl").text == ""  # nothing that day
    assert ("ada", "export", first) in reads(runtime) and ("ada", "export", None) in reads(runtime)


def test_a_bad_export_range_is_shown_by_its_field_and_exports_nothing(runtime: Runtime, visit: Any) -> None:
    opened(runtime)
    ada = visit("ada")
    page = Page.of(ada.get("/audit/export?from=yesterday&to=2026-03-02&format=jsonl", status=422).text)
    assert "give a date like" in page.text_of["export-from-error"] and "export-to-error" not in page.text_of
    page = Page.of(ada.get("/audit/export?from=2026-03-05&to=2026-03-02&format=jsonl", status=422).text)
    assert "must be after from" in page.text_of["export-to-error"]
    page = Page.of(ada.get("/audit/export?from=2026-03-01&to=2026-03-02&format=xml", status=422).text)
    assert "format must be one of" in page.text_of["export-format-error"]
    assert all(w != "export" for _, w, _ in reads(runtime))
    ada.get("/tickets/T-000001/audit/history.xml", status=422)


def test_the_ticket_box_leads_to_its_audit_and_an_unknown_ticket_is_404(runtime: Runtime, visit: Any) -> None:
    number = opened(runtime)
    ada = visit("ada")
    assert ada.get(f"/audit/ticket?number={number.lower()}", status=302).headers["Location"].endswith(
        f"/tickets/{number}/audit")
    ada.get("/tickets/T-424242/audit", status=404)
    ada.get("/tickets/T-%00/audit", status=404)  # never sent to the database (PostgreSQL refuses NUL)
    ada.get("/tickets/T-%00/audit/history.csv", status=404)
    assert ada.get("/audit/ticket?number=%00", status=302).headers["Location"].endswith("/audit")


def test_agents_process_owners_and_customers_are_turned_away(runtime: Runtime, visit: Any) -> None:
    number = opened(runtime)
    for name in ("lena", "otto", "petra", "alice"):
        person = visit(name)
        person.get("/audit", status=403)
        person.get(f"/tickets/{number}/audit", status=403)
        person.get(f"/tickets/{number}/audit/history.jsonl", status=403)
        person.get("/audit/export?from=2026-03-01&to=2026-03-03&format=jsonl", status=403)
        refused = person.post("/audit/verify", {}, status=403)  # with the token the last page carried
        assert "only auditors and admins" in refused.text
    assert AuditService(runtime).access_log() == []
