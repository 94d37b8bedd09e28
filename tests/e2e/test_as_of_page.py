"""The auditor's history stepper: one event at a time, the ticket's state after it, and the pinned
diagram handed to the bpmn-js viewer with where the ticket was (tests/browser checks the drawing)."""
from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from tests.conftest import ASSESS_ESCALATE, CLASSIFY, CUSTOMER, ESCALATE, L1, OWNER, complete_current, intake
from tests.e2e.conftest import Page
from ticketflow.composition import BUNDLED_DIAGRAM, deploy_file

XSS = "<script>alert(1)</script>"


def escalated(runtime: Runtime) -> str:
    """A ticket classified, assessed as needing L2 and escalated (now with L2)."""
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_ESCALATE, ESCALATE):
        complete_current(runtime, number, L1, data)
    return number


def seq_of(runtime: Runtime, number: str, kind: str, element_id: str) -> int:
    return next(e.seq for e in runtime.ticket_history(number) if e.kind == kind and e.element_id == element_id)


def viewer_of(html: str) -> dict[str, str]:
    """The data- attributes of the page's bpmn-js viewer element."""
    found = re.search(r'<div class="bpmn-diagram"([^>]*)>', html)
    assert found, "no diagram viewer on the page"
    return {k: unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1))}


def states(html: str) -> dict[str, set[str]]:
    """Element id -> the markers the viewer is told to add (current, visited)."""
    viewer = viewer_of(html)
    marks: dict[str, set[str]] = {}
    for marker in ("current", "visited"):
        for element in json.loads(viewer[marker]):
            marks.setdefault(element, set()).add(marker)
    return marks


def version_with(tmp_path: Path, old: bytes, new: bytes) -> Path:
    """A copy of the bundled diagram with one name changed, next to the bundled forms."""
    changed = tmp_path / "support_ticket.bpmn"
    source = BUNDLED_DIAGRAM.read_bytes()
    assert old in source
    changed.write_bytes(source.replace(old, new))
    (tmp_path / "forms").symlink_to(BUNDLED_DIAGRAM.parent / "forms")
    return changed


def test_an_auditor_steps_through_an_escalated_ticket(runtime: Runtime, visit: Any) -> None:
    number = escalated(runtime)
    ready = seq_of(runtime, number, "task_ready", "escalate_to_l2")
    auditor = visit("ada")
    response = auditor.get(f"/tickets/{number}/as-of?seq={ready}")
    assert "style=" not in response.text and "<style" not in response.text
    page = Page.of(response.text)
    assert page.text_of["seq"] == str(ready)
    assert "task_ready" in page.text_of["event"] and "escalate_to_l2" in page.text_of["event"]
    assert page.text_of["status"] == "with l1"
    assert "Escalate to L2" in page.text_of["ready"] and "L1 Support" in page.text_of["ready"]
    assert "P2" in page.text_of["data"]  # the priority derived before this point
    assert viewer_of(response.text)["diagram-url"] == f"/tickets/{number}/diagram.bpmn"
    nodes = states(response.text)
    assert "current" in nodes["escalate_to_l2"]
    assert "visited" in nodes["classify_ticket"] and "current" not in nodes["classify_ticket"]
    assert "investigate_root_cause" not in nodes
    assert {k for k, v in nodes.items() if "current" in v} == {"escalate_to_l2"}
    assert "Escalate to L2" in page.text_of["current"]
    assert "Classify type and priority" in page.text_of["visited"]
    # Every event is listed, each one linking to its own step.
    last = len(runtime.ticket_history(number))
    steps = {f"/tickets/{number}/as-of?seq={n}" for n in range(1, last + 1) if n != ready}
    assert steps <= set(page.links)

    # Next, then Prev, come back to the same event.
    after = Page.of(auditor.get(f"/tickets/{number}/as-of?seq={ready + 1}").text)
    assert after.text_of["seq"] == str(ready + 1)
    assert f"/tickets/{number}/as-of?seq={ready}" in after.links  # its Prev
    assert f"/tickets/{number}/as-of?seq={ready + 2}" in after.links  # its Next
    again = auditor.get(f"/tickets/{number}/as-of?seq={ready}")
    assert states(again.text) == nodes


def test_first_and_last_events_have_no_way_further(runtime: Runtime, visit: Any) -> None:
    number = escalated(runtime)
    last = len(runtime.ticket_history(number))
    auditor = visit("ada")
    first = auditor.get(f"/tickets/{number}/as-of")  # no seq: the first event
    page = Page.of(first.text)
    assert page.text_of["seq"] == "1" and "prev" not in page.text_of and "first" not in page.text_of
    assert page.text_of["next"].startswith("Next") and page.text_of["last"].startswith("Last")
    assert f"/tickets/{number}/as-of?seq=2" in page.links and f"/tickets/{number}/as-of?seq={last}" in page.links
    end = Page.of(auditor.get(f"/tickets/{number}/as-of?seq={last}").text)
    assert "next" not in end.text_of and "last" not in end.text_of
    assert f"/tickets/{number}/as-of?seq={last - 1}" in end.links and f"/tickets/{number}/as-of?seq=1" in end.links
    # After the escalation the ticket waits in L2.
    assert states(auditor.get(f"/tickets/{number}/as-of?seq={last}").text)["investigate_root_cause"] >= {"current"}


@pytest.mark.parametrize("seq", ["0", "999", "-1", "abc", "1.5", "1" * 40])
def test_a_seq_that_is_no_event_is_a_422_page(runtime: Runtime, visit: Any, seq: str) -> None:
    number = escalated(runtime)
    response = visit("ada").get(f"/tickets/{number}/as-of?seq={seq}", status=422)
    assert response.mimetype == "text/html"
    detail = re.search(r'<p class="error-detail">(.*?)</p>', response.text, re.S)
    assert detail and re.search(r"seq must|there is no event", detail.group(1)), response.text
    assert AuditService(runtime).access_log(number) == []


def test_an_unknown_ticket_is_a_404_page(visit: Any) -> None:
    response = visit("ada").get("/tickets/T-424242/as-of?seq=1", status=404)
    assert response.mimetype == "text/html" and "does not exist" in response.text


@pytest.mark.parametrize("name", ["lena", "otto", "alice", "bob", "petra"])
def test_only_auditors_and_admins_open_the_stepper(runtime: Runtime, visit: Any, name: str) -> None:
    number = escalated(runtime)
    response = visit(name).get(f"/tickets/{number}/as-of?seq=1", status=403)
    assert response.mimetype == "text/html" and "auditors and admins" in response.text
    assert "bpmn-diagram" not in response.text


def test_visitors_without_a_session_are_sent_to_sign_in(app: Any, runtime: Runtime) -> None:
    number = escalated(runtime)
    response = app.test_client().get(f"/tickets/{number}/as-of?seq=2")
    assert response.status_code == 302
    assert response.location == f"/sign-in?next=/tickets/{number}/as-of?seq%3D2"


def test_each_auditor_view_is_recorded_and_an_admins_is_not(runtime: Runtime, visit: Any) -> None:
    number = escalated(runtime)
    auditor = visit("ada")
    for seq in (3, 1):
        auditor.get(f"/tickets/{number}/as-of?seq={seq}")
    visit("root").get(f"/tickets/{number}/as-of?seq=2")
    log = AuditService(runtime).access_log(number)
    assert [(a.actor, a.role, a.what, a.detail) for a in log] == [
        ("ada", "auditor", "as_of", {"seq": 1}), ("ada", "auditor", "as_of", {"seq": 3})]


def test_the_ticket_page_links_auditors_and_admins_to_the_stepper(runtime: Runtime, visit: Any) -> None:
    number = escalated(runtime)
    link = f"/tickets/{number}/as-of?seq=1"
    for name in ("ada", "root"):
        assert link in Page.of(visit(name).get(f"/tickets/{number}").text).links
    assert link not in Page.of(visit("lena").get(f"/tickets/{number}").text).links


def test_a_ticket_keeps_the_diagram_of_its_version_after_a_rename(runtime: Runtime, visit: Any,
                                                                  tmp_path: Path) -> None:
    old = runtime.open_ticket(intake(), CUSTOMER).number
    renamed = version_with(tmp_path, b'name="Classify type and priority"', b'name="Triage the ticket (v2)"')
    assert deploy_file(runtime, renamed, OWNER) == (2, True)
    new = runtime.open_ticket(intake(), CUSTOMER).number
    auditor = visit("ada")
    before = auditor.get(f"/tickets/{old}/as-of?seq=1")
    assert "Procedure version 1" in before.text
    assert "Triage the ticket (v2)" not in before.text
    xml = auditor.get(viewer_of(before.text)["diagram-url"])  # what the viewer draws
    assert xml.mimetype == "application/xml"
    assert b'name="Classify type and priority"' in xml.data and b"Triage the ticket (v2)" not in xml.data
    after = auditor.get(f"/tickets/{new}/as-of?seq=1")
    assert "Procedure version 2" in after.text
    xml = auditor.get(viewer_of(after.text)["diagram-url"])
    assert b'name="Triage the ticket (v2)"' in xml.data and b"Classify type and priority" not in xml.data


def test_names_from_the_diagram_are_shown_as_text(runtime: Runtime, visit: Any, tmp_path: Path) -> None:
    hostile = version_with(tmp_path, b'name="Classify type and priority"',
                           b'name="&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"')
    assert deploy_file(runtime, hostile, OWNER) == (2, True)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    response = visit("ada").get(f"/tickets/{number}/as-of?seq={len(runtime.ticket_history(number))}")
    assert XSS not in response.text  # the page's only script is the diagram viewer's bundle
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "current" in states(response.text)["classify_ticket"]
    assert XSS in Page.of(response.text).text_of["current"]
