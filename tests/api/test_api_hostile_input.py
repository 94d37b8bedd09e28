"""Input that used to answer 5xx answers a clear 4xx problem and changes nothing, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from engine.runtime import Runtime
from tests.api.conftest import Api, current_task, make_api, open_ticket
from tests.conftest import CLASSIFY
from ticketflow.composition import deploy_file


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_api(request: pytest.FixtureRequest, runtimes: Callable[..., Runtime]) -> Api:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    runtime = runtimes(url)
    deploy_file(runtime)
    return make_api(runtime)


def tickets(api: Api) -> int:
    return int(api.as_("root").get("/api/v1/tickets").json["total"])


def test_json_nested_fifty_thousand_deep_is_malformed(any_api: Api) -> None:
    body = "[" * 50_000 + "]" * 50_000
    answer = any_api.as_("alice").post("/api/v1/tickets", data=body, content_type="application/json")
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert "nested too deeply" in answer.json["detail"]


@pytest.mark.parametrize("text", ["lone \ud800 surrogate", "NUL \x00 inside", "\udfff"])
def test_text_that_cannot_be_stored_is_refused_with_the_field_named(any_api: Api, text: str) -> None:
    before = tickets(any_api)
    answer = any_api.as_("alice").post("/api/v1/tickets", data=as_json({
        "subject": text + " subject", "description": "A long enough description."}), content_type="application/json")
    assert answer.status_code == 422 and [e["pointer"] for e in answer.json["errors"]] == ["/subject"]
    assert tickets(any_api) == before
    number = open_ticket(any_api)["number"]
    task = current_task(any_api, number)
    caller = any_api.as_("lena")
    caller.post(f"/api/v1/tasks/{task['id']}/claim")
    answer = caller.post(f"/api/v1/tasks/{task['id']}/complete", data=as_json({**CLASSIFY, "type": text}),
                         content_type="application/json")
    assert answer.status_code == 422 and answer.json["errors"][0]["pointer"] == "/type"
    assert current_task(any_api, number)["state"] == "ready"


def as_json(document: object) -> str:
    """JSON as a client sends it: a lone surrogate travels as a \\ud800 escape (ASCII-only output)."""
    return json.dumps(document, ensure_ascii=True)


@pytest.mark.parametrize("query", ["offset=%C2%B2", "offset=" + "9" * 20, "limit=%D9%A3", "status=%00",
                                   "offset=-0000000000000000001", "lane=" + "x" * 201])
def test_query_parameters_out_of_shape_are_malformed_queries(any_api: Api, query: str) -> None:
    answer = any_api.as_("lena").get(f"/api/v1/tickets?{query}")
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json", answer.json


@pytest.mark.parametrize("etag", ['"²"', '"' + "9" * 20 + '"', '"٣"'])
def test_an_if_match_that_is_no_version_is_a_malformed_header(any_api: Api, etag: str) -> None:
    number = open_ticket(any_api)["number"]
    task = current_task(any_api, number)
    answer = any_api.as_("lena").post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY,
                                      headers={"If-Match": etag})
    assert answer.status_code == 400 and "If-Match" in answer.json["detail"]


@pytest.mark.parametrize("bound", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00"])
def test_an_export_bound_outside_the_utc_calendar_is_invalid_input(any_api: Api, bound: str) -> None:
    answer = any_api.as_("aude").get("/api/v1/audit/export", query_string={
        "from": "2026-01-01T00:00:00+00:00", "to": bound})
    assert answer.status_code == 422 and answer.json["errors"][0]["pointer"] == "/to"


def test_an_export_bound_at_the_calendars_edge_is_fine(any_api: Api) -> None:
    open_ticket(any_api)
    answer = any_api.as_("aude").get("/api/v1/audit/export", query_string={
        "from": "9999-12-31T23:59:59+14:00", "to": "9999-12-31T23:59:59+00:00"})
    assert answer.status_code == 200 and answer.get_data(as_text=True) == ""


def test_the_inbox_page_shrugs_off_odd_offsets_and_filters(any_api: Api) -> None:
    directory = any_api.app.extensions["ticketflow"].directory
    client = any_api.app.test_client()
    token = directory.issue_token("lena")
    page = client.get("/sign-in")
    assert page.status_code == 200
    csrf = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/sign-in", data={"token": token, "csrf_token": csrf}).status_code in (302, 303)
    for query in ("offset=%C2%B2", "offset=" + "9" * 20, "lane=%00", "lane=" + "x" * 500):
        assert client.get(f"/inbox?{query}").status_code == 200, query
