"""Saved views through the API: GET/POST /api/v1/views and DELETE /api/v1/views/{name}, with the rules of the
ticket list page: the support team only, one set per person, the list's own filters; a name in use is 409."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import TestResponse

from engine.runtime import Runtime
from engine.usecases.ticket_list import MAX_VIEWS, TicketLists
from tests.api.conftest import Api, make_api, open_ticket
from tests.conftest import L2

VIEWS = "/api/v1/views"


def delete(api: Api, user: str, name: str) -> TestResponse:
    return api.client.delete(f"{VIEWS}/{name}", headers={"Authorization": f"Bearer {api.tokens[user]}"})


def names(api: Api, user: str) -> list[str]:
    listing = api.as_(user).get(VIEWS)
    assert listing.status_code == 200, listing.json
    return [view["name"] for view in listing.json["items"]]


def test_a_view_is_saved_listed_with_its_count_and_deleted(api: Api) -> None:
    printers = [open_ticket(api, subject=s)["number"] for s in ("Printer jams on page two", "Printer toner empty")]
    open_ticket(api, subject="VPN drops every hour")
    made = api.as_("lena").post(VIEWS, json={"name": " Printers, oldest ", "query": {"q": "printer",
                                                                                     "sort": "oldest"}})
    assert made.status_code == 201, made.json
    assert made.json["name"] == "Printers, oldest" and made.json["query"] == {"q": "printer", "sort": "oldest"}
    assert made.json["count"] == 2 and made.json["count_capped"] is False
    assert made.headers["Location"] == made.json["href"]
    following = api.as_("lena").get(made.json["tickets"]).json  # the list the view stands for
    assert [item["number"] for item in following["items"]] == printers
    api.as_("lena").post(VIEWS, json={"name": "Everything"})
    listing = api.as_("lena").get(VIEWS).json["items"]
    assert [(view["name"], view["count"]) for view in listing] == [("Everything", 3), ("Printers, oldest", 2)]
    assert delete(api, "lena", "Printers, oldest").status_code == 204
    assert names(api, "lena") == ["Everything"]
    assert delete(api, "lena", "Printers, oldest").status_code == 404


def test_the_page_and_the_api_share_the_views(api: Api) -> None:
    TicketLists(api.runtime).save_view(L2, "Mine", {"assignee": "otto"})  # as the page's form saves it
    assert api.as_("otto").get(VIEWS).json["items"][0]["query"] == {"assignee": "otto"}
    api.as_("otto").post(VIEWS, json={"name": "Names/with slashes", "query": {"status": "open"}})
    assert delete(api, "otto", "Names/with slashes").status_code == 204
    assert names(api, "otto") == ["Mine"]


def test_another_persons_views_are_invisible_and_untouchable(api: Api) -> None:
    assert api.as_("lena").post(VIEWS, json={"name": "Lena's"}).status_code == 201
    assert names(api, "otto") == []
    assert delete(api, "otto", "Lena's").status_code == 404
    assert api.as_("otto").post(VIEWS, json={"name": "Lena's"}).status_code == 201  # names are per person
    assert names(api, "lena") == ["Lena's"]


def test_a_name_in_use_is_a_conflict_and_nothing_changes(api: Api) -> None:
    api.as_("lena").post(VIEWS, json={"name": "Printers", "query": {"q": "printer"}})
    again = api.as_("lena").post(VIEWS, json={"name": "Printers ", "query": {"q": "vpn"}})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert api.as_("lena").get(VIEWS).json["items"][0]["query"] == {"q": "printer"}


def test_a_person_keeps_at_most_fifty_views(api: Api) -> None:
    for n in range(MAX_VIEWS):
        assert api.as_("lena").post(VIEWS, json={"name": f"View {n}"}).status_code == 201
    refused = api.as_("lena").post(VIEWS, json={"name": "One more"})
    assert refused.status_code == 409 and "delete one" in refused.json["detail"]


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_customers_have_no_views(api: Api, user: str) -> None:
    for answer in (api.as_(user).get(VIEWS), api.as_(user).post(VIEWS, json={"name": "Mine"}),
                   delete(api, user, "Mine")):
        assert answer.status_code == 403 and answer.mimetype == "application/problem+json"


@pytest.mark.parametrize(("body", "pointer"), [
    ({"name": "x" * 101}, "/name"), ({"name": "   "}, "/name"), ({"name": 7}, "/name"), ({}, "/name"),
    ({"name": "Bad", "query": {"sort": "colour"}}, "/query/sort"),
    ({"name": "Bad", "query": {"sla_state": "late"}}, "/query/sla_state"),
    ({"name": "Bad", "query": {"q": "!!"}}, "/query/q"),
    ({"name": "Bad", "query": {"q": ""}}, "/query/q"),
    ({"name": "Bad", "query": {"q": "x" * 201}}, "/query/q"),
    ({"name": "Bad", "query": {"status": 3}}, "/query/status"),
    ({"name": "Bad", "query": {"cursor": "abc"}}, "/query/cursor"),
    ({"name": "Bad", "query": {"a/b": "c"}}, "/query/a~1b"),
    ({"name": "Bad", "query": ["q"]}, "/query"),
    ({"name": "Bad", "colour": "red"}, "/colour"),
    ({"name": "Bad\u0000"}, "/name"),
    (["Bad"], ""),
])
def test_bad_input_is_refused_and_nothing_is_saved(api: Api, body: Any, pointer: str) -> None:
    refused = api.as_("lena").post(VIEWS, json=body)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json", refused.json
    assert pointer in [error["pointer"] for error in refused.json["errors"]]
    assert names(api, "lena") == []


def test_malformed_requests_are_refused(api: Api) -> None:
    broken = api.as_("lena").post(VIEWS, data="{name:", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    assert api.as_("lena").post(VIEWS, data="name=x", content_type="text/plain").status_code == 415
    assert api.as_("lena").get(f"{VIEWS}?colour=red").status_code == 400
    assert delete(api, "lena", "x" * 300).status_code == 404
    assert delete(api, "lena", "%00").status_code == 404
    assert names(api, "lena") == []


def test_an_auditors_look_at_the_views_is_recorded(api: Api) -> None:
    api.as_("aude").post(VIEWS, json={"name": "Breached", "query": {"sla_state": "breached"}})
    assert names(api, "aude") == ["Breached"]
    reads = api.app.extensions["ticketflow"].audit.access_log()
    assert any(read.what == "tickets" and read.detail.get("saved_views") == ["Breached"] for read in reads)


def test_views_on_postgresql(postgres_url: str, runtimes: Callable[..., Runtime]) -> None:
    api = make_api(runtimes(postgres_url))
    assert api.as_("lena").post(VIEWS, json={"name": "Breached", "query": {"sla_state": "breached"}}).status_code == 201
    assert api.as_("lena").post(VIEWS, json={"name": "Breached"}).status_code == 409
    assert api.as_("lena").get(VIEWS).json["items"][0]["count"] == 0
    assert delete(api, "lena", "Bre%00ached").status_code == 404  # never sent to PostgreSQL, which refuses NUL
    assert delete(api, "lena", "Breached").status_code == 204 and names(api, "lena") == []
