"""Auditors over HTTP: verify, replay, as-of, export, anchors; read-only; their reads recorded."""
from __future__ import annotations

import json

import pytest

from tests.api.conftest import Api, complete, open_ticket
from tests.api.test_api_paths import escalate_and_fix
from tests.conftest import PERSISTS, RESOLVED
from tests.integration.helpers import tamper

AUDIT_PATHS = ["/api/v1/tickets/{n}/audit", "/api/v1/tickets/{n}/replay", "/api/v1/tickets/{n}/as-of?seq=2",
               "/api/v1/audit/verify",
               "/api/v1/audit/export?from=2026-01-01T00:00:00%2B00:00&to=2027-01-01T00:00:00%2B00:00"]


@pytest.fixture
def closed_ticket(api: Api) -> str:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    complete(api, number, "alice", PERSISTS, claim=False)
    for user, data in (("otto", {"logs_reviewed": "again", "reproduced": True,
                                 "root_cause": "A second cache layer kept the stale token."}),):
        complete(api, number, user, data)
    return number


@pytest.mark.parametrize("user", ["alice", "bob", "lena", "otto", "petra", "aude", "root"])
def test_only_auditors_and_admins_audit(api: Api, user: str) -> None:
    number = open_ticket(api)["number"]
    for path in AUDIT_PATHS:
        response = api.as_(user).get(path.format(n=number))
        assert response.status_code == (200 if user in ("aude", "root") else 403), (user, path)
    assert api.as_(user).post("/api/v1/audit/anchors").status_code == (201 if user in ("aude", "root") else 403)


def test_every_path_replays_consistent_over_http(api: Api) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    complete(api, number, "alice", PERSISTS, claim=False)
    from tests.conftest import FIX, INVESTIGATE, SOLUTION
    complete(api, number, "otto", INVESTIGATE)
    complete(api, number, "otto", FIX)
    complete(api, number, "lena", SOLUTION)
    complete(api, number, "alice", RESOLVED, claim=False)
    report = api.as_("aude").get(f"/api/v1/tickets/{number}/replay").json
    assert report["outcome"] == "consistent" and report["divergence"] is None
    total = len(api.as_("aude").get(f"/api/v1/tickets/{number}/history").json["events"])
    assert report["events"] == total
    partial = api.as_("aude").get(f"/api/v1/tickets/{number}/replay?until=10").json
    assert partial["consistent"] and partial["until"] == 10
    assert api.as_("aude").get(f"/api/v1/tickets/{number}/audit").json["ok"] is True


def test_as_of_shows_where_the_ticket_was(api: Api) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    events = api.as_("aude").get(f"/api/v1/tickets/{number}/history").json["events"]
    escalation = next(e["seq"] for e in events if e["kind"] == "task_ready" and e["element_id"] == "escalate_to_l2")
    view = api.as_("aude").get(f"/api/v1/tickets/{number}/as-of?seq={escalation}").json
    assert view["current_elements"] == ["escalate_to_l2"] and view["status"] == "with_l1"
    assert view["data"]["priority"] == "P2" and "troubleshooting_steps" not in view["data"]
    assert api.as_("aude").get(f"/api/v1/tickets/{number}/as-of?seq=0").status_code == 400
    assert api.as_("aude").get(f"/api/v1/tickets/{number}/as-of?seq=9999").status_code == 422
    assert api.as_("aude").get(f"/api/v1/tickets/{number}/as-of").status_code == 400


def test_tampering_in_sql_is_named_over_http(api: Api) -> None:
    number = open_ticket(api)["number"]
    escalate_and_fix(api, number)
    tamper(api.runtime, "UPDATE history_event SET data = :d WHERE seq = 2 AND ticket_id = "
           "(SELECT id FROM ticket WHERE number = :n)", d=json.dumps({"forged": True}), n=number)
    report = api.as_("aude").get(f"/api/v1/tickets/{number}/audit").json
    assert report["ok"] is False and report["finding"]["seq"] == 2
    assert api.as_("aude").get("/api/v1/audit/verify").json["failed"] == 1


def test_export_streams_jsonl_and_csv(api: Api) -> None:
    first, second = open_ticket(api)["number"], open_ticket(api, customer="bob")["number"]
    base = "/api/v1/audit/export?from=2026-01-01T00:00:00%2B00:00&to=2027-01-01T00:00:00%2B00:00"
    response = api.as_("aude").get(base)
    assert response.mimetype == "application/x-ndjson" and response.is_streamed
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert {line["ticket"] for line in lines} == {first, second}
    assert all(set(line) >= {"seq", "at", "actor", "kind", "hash"} for line in lines)
    csv_response = api.as_("aude").get(base + "&format=csv")
    assert csv_response.mimetype == "text/csv"
    rows = csv_response.get_data(as_text=True).splitlines()
    assert rows[0].startswith("ticket,seq,at") and len(rows) == len(lines) + 1
    bad = api.as_("aude").get("/api/v1/audit/export?from=yesterday&to=2027-01-01T00:00:00%2B00:00&format=xml")
    assert bad.status_code == 422 and {e["pointer"] for e in bad.json["errors"]} == {"/from"}
    bad = api.as_("aude").get(base + "&format=xml")
    assert bad.status_code == 422 and bad.json["errors"][0]["pointer"] == "/format"


def test_auditor_reads_are_recorded_and_change_no_ticket(api: Api) -> None:
    number = open_ticket(api)["number"]
    version = api.as_("root").get(f"/api/v1/tickets/{number}").json["version"]
    aude = api.as_("aude")
    aude.get(f"/api/v1/tickets/{number}")
    aude.get(f"/api/v1/tickets/{number}/history")
    aude.get(f"/api/v1/tickets/{number}/replay?until=3")
    aude.get(f"/api/v1/tickets/{number}/as-of?seq=2")
    aude.get(f"/api/v1/tickets/{number}/audit")
    api.as_("lena").get(f"/api/v1/tickets/{number}")  # an agent's read is not an audit access
    log = api.app.extensions["ticketflow"].audit.access_log(number)
    assert [(a.actor, a.what) for a in reversed(log)] == [
        ("aude", "history"), ("aude", "history"), ("aude", "replay"), ("aude", "as_of"), ("aude", "audit")]
    assert log[2].detail == {"until": 3, "outcome": "consistent"}
    assert api.as_("root").get(f"/api/v1/tickets/{number}").json["version"] == version
