"""A step that fails keeps what the agent typed, says in plain words that nothing changed, and links back;
a page gone stale offers to reload the task, named by its name (never its id)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from tests.conftest import ADMIN, CUSTOMER, intake
from tests.e2e.conftest import Page, Visitor
from tests.e2e.test_pages import CLASSIFY_FORM, ready_task
from tests.e2e.test_ticket_page import text_of
from tests.integration.helpers import runtime_with
from ticketflow.composition import deploy_file
from web.app import WebSettings, create_app


class MatrixDown(RuntimeError):
    """The priority service is unreachable (what a real outage raises inside the handler)."""


def unreachable_matrix(*_: Any, **__: Any) -> Any:
    raise MatrixDown("connection refused by priority-matrix.internal:443")


@pytest.fixture
def failing(sqlite_url: str, clock: FakeClock) -> Iterator[Runtime]:
    """A runtime whose priority service fails: classifying a ticket cannot go through."""
    runtime = runtime_with(sqlite_url, clock, priority_matrix=unreachable_matrix)
    deploy_file(runtime)
    yield runtime
    runtime.close()


def signed_in(app: Flask, name: str, role: str) -> Visitor:
    token = app.extensions["ticketflow"].directory.add_user(name, role, email=f"{name}@example.com")[1]
    visitor = Visitor(app.test_client())
    visitor.sign_in(token)
    return visitor


def test_a_failed_step_keeps_the_input_and_says_the_ticket_is_unchanged(failing: Runtime) -> None:
    app = create_app(failing, WebSettings(secret_key="test-secret-key"))
    number = failing.open_ticket(intake(), CUSTOMER).number
    task = ready_task(failing, number)
    version = failing.get_ticket(number).version
    lena = signed_in(app, "lena", "l1")
    lena.get(f"/tasks/{task.id}")
    typed = {**CLASSIFY_FORM, "impact": "low"}
    response = lena.post(f"/tasks/{task.id}", {**typed, "version": str(version), "assignee": ""}, status=502)
    page = Page.of(response.text)
    said = page.text_of["not-saved"]
    assert "ticket is unchanged" in said and "“Classify type and priority”" in said
    assert {name: page.chosen[name] for name in typed} == typed  # every choice kept
    assert f"/tickets/{number}" in page.links and "/inbox" in page.links
    assert f'action="/tasks/{task.id}"' in response.text  # the form is there to send again
    shown = text_of(response.text)
    assert "connection refused" not in shown and "MatrixDown" not in shown and "priority_matrix" not in shown
    assert task.id not in shown
    after = failing.get_ticket(number)
    assert after.version == version and ready_task(failing, number).id == task.id  # nothing changed


def test_invalid_input_says_nothing_was_saved_and_keeps_every_value(visit: Any, runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    task = ready_task(runtime, number)
    lena = visit("lena")
    lena.get(f"/tasks/{task.id}")
    page = Page.of(lena.post(f"/tasks/{task.id}", {"type": "incident", "impact": "high"}, status=422).text)
    assert "ticket is unchanged" in page.text_of["not-saved"]
    assert page.chosen["type"] == "incident" and page.chosen["impact"] == "high"
    assert "required" in page.text_of["f-urgency-error"]
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "classify_ticket"


def test_a_stale_page_offers_to_reload_the_task_by_its_name(visit: Any, runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    task = ready_task(runtime, number)
    lena = visit("lena")
    shown = Page.of(lena.get(f"/tasks/{task.id}").text)
    runtime.claim_task(task.id, ADMIN)
    hidden = {name: shown.inputs[name][0]["value"] for name in ("version", "assignee")}
    response = lena.post(f"/tasks/{task.id}", {**hidden, **CLASSIFY_FORM}, status=409)
    page = Page.of(response.text)
    assert page.text_of["reload"] == "Reload “Classify type and priority” as it is now"
    assert f"/tasks/{task.id}" in page.links  # the reload
    title = response.text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "Classify type and priority" in title and task.id not in title
    assert task.id not in text_of(response.text)
    again = lena.get(f"/tasks/{task.id}")  # following the link: the task as it is now
    assert "Claimed by root." in text_of(again.text)
