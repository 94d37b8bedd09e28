"""The diagram routes the bpmn-js viewer loads, and the process owners' live view (counts per step)."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from engine.errors import Forbidden
from engine.runtime import Runtime
from engine.usecases.process_view import ProcessView
from tests.conftest import ADMIN, ASSESS_ESCALATE, CLASSIFY, CUSTOMER, ESCALATE, L1, OWNER, complete_current, intake
from tests.e2e.test_as_of_page import version_with
from ticketflow.composition import deploy_file


def escalated(runtime: Runtime) -> str:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_ESCALATE, ESCALATE):
        complete_current(runtime, number, L1, data)
    return number


def viewer_of(html: str) -> dict[str, str]:
    found = re.search(r'<div class="bpmn-diagram"([^>]*)>', html)
    assert found, "no diagram viewer on the page"
    return {k: unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1))}


def test_the_process_owner_lands_on_the_live_process_with_counts(runtime: Runtime, visit: Any) -> None:
    escalated(runtime)
    escalated(runtime)
    runtime.open_ticket(intake(), CUSTOMER)
    owner = visit("petra")
    assert owner.get("/", status=302).location == "/process"
    page = owner.get("/process")
    viewer = viewer_of(page.text)
    assert viewer["mode"] == "heat" and viewer["diagram-url"] == "/definitions/support_ticket/diagram.bpmn?version=1"
    assert json.loads(viewer["counts"]) == {"classify_ticket": 1, "investigate_root_cause": 2}
    rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", page.text)
    assert rows == [("Investigate root cause", "2"), ("Classify type and priority", "1")]
    assert "3 tickets waiting" in page.text
    xml = owner.get(viewer["diagram-url"])
    assert xml.mimetype == "application/xml" and b'id="investigate_root_cause"' in xml.data
    assert owner.client.get(viewer["diagram-url"], headers={"If-None-Match": xml.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize(("name", "status"), [("lena", 403), ("otto", 403), ("alice", 403), ("ada", 200),
                                              ("root", 200)])
def test_only_owners_auditors_and_admins_see_the_live_process(runtime: Runtime, visit: Any, name: str,
                                                              status: int) -> None:
    visitor = visit(name)
    visitor.get("/process", status=status)
    visitor.get("/definitions/support_ticket/diagram.bpmn", status=status)


def test_an_unknown_definition_or_version_is_a_404(runtime: Runtime, visit: Any) -> None:
    owner = visit("petra")
    owner.get("/definitions/nope/diagram.bpmn", status=404)
    owner.get("/definitions/support_ticket/diagram.bpmn?version=9", status=404)
    owner.get("/process?key=nope", status=404)


@pytest.mark.parametrize(("name", "status"), [("lena", 200), ("otto", 200), ("ada", 200), ("petra", 200),
                                              ("root", 200), ("alice", 403), ("bob", 403)])
def test_a_tickets_diagram_is_for_the_support_team(runtime: Runtime, visit: Any, name: str, status: int) -> None:
    number = escalated(runtime)
    response = visit(name).get(f"/tickets/{number}/diagram.bpmn", status=status)
    if status == 200:
        assert response.data == runtime.pinned_definition(number)[2]


def test_the_ticket_page_hands_the_viewer_where_the_ticket_is(runtime: Runtime, visit: Any) -> None:
    number = escalated(runtime)
    viewer = viewer_of(visit("otto").get(f"/tickets/{number}").text)
    assert viewer["diagram-url"] == f"/tickets/{number}/diagram.bpmn"
    assert json.loads(viewer["current"]) == ["investigate_root_cause"]
    assert {"register_ticket", "classify_ticket", "escalate_to_l2"} <= set(json.loads(viewer["visited"]))
    assert json.loads(viewer["counts"]) == {}  # no loop yet
    assert "bpmn-diagram" not in visit("alice").get(f"/tickets/{number}").text


def test_the_live_counts_take_one_query_whatever_the_number_of_tickets(runtime: Runtime) -> None:
    for _ in range(3):
        escalated(runtime)
    view = ProcessView(runtime)
    statements: list[str] = []
    engine = runtime.sessions.kw["bind"]
    listen: Callable[..., None] = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        live = view.live(None, OWNER)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert live.waiting == {"investigate_root_cause": 3} and live.total == 3
    assert sum("human_task" in s for s in statements) == 1
    assert live.keys == ("support_ticket",) and view.live("support_ticket", ADMIN).definition.version == 1


def test_tickets_of_every_version_count_on_the_newest_diagram(runtime: Runtime, tmp_path: Path) -> None:
    escalated(runtime)
    renamed = version_with(tmp_path, b'name="Classify type and priority"', b'name="Triage the ticket (v2)"')
    assert deploy_file(runtime, renamed, OWNER) == (2, True)
    runtime.open_ticket(intake(), CUSTOMER)
    live = ProcessView(runtime).live("support_ticket", OWNER)
    assert live.definition.version == 2 and b"Triage the ticket (v2)" in live.definition.bpmn
    assert live.waiting == {"classify_ticket": 1, "investigate_root_cause": 1}


@pytest.mark.postgres
def test_the_live_counts_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    escalated(runtime)
    runtime.open_ticket(intake(), CUSTOMER)
    assert ProcessView(runtime).live("support_ticket", OWNER).waiting == {"classify_ticket": 1,
                                                                          "investigate_root_cause": 1}


def test_agents_are_refused_the_live_process_use_case(runtime: Runtime) -> None:
    with pytest.raises(Forbidden):
        ProcessView(runtime).live(None, L1)
