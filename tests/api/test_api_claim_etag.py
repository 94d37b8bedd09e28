"""Claim and release answer the ticket's new ETag, so a following complete with If-Match is accepted;
an ETag from before the claim is still a conflict (If-Match keeps meaning "the ticket as I saw it")."""
from __future__ import annotations

from tests.api.conftest import Api, current_task, open_ticket
from tests.conftest import CLASSIFY


def test_a_complete_with_the_etag_its_claim_answered_is_accepted(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    lena = api.as_("lena")
    before = lena.get(f"/api/v1/tickets/{number}").headers["ETag"]
    claimed = lena.post(f"/api/v1/tasks/{task['id']}/claim")
    assert claimed.status_code == 200 and claimed.json["assignee"] == "lena"
    etag = claimed.headers["ETag"]
    assert etag != before and etag == lena.get(f"/api/v1/tickets/{number}").headers["ETag"]
    stale = lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY, headers={"If-Match": before})
    assert stale.status_code == 409
    done = lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY, headers={"If-Match": etag})
    assert done.status_code == 200, done.json
    assert done.json["priority"] == "P2"  # the classification went through


def test_release_answers_the_ticket_etag_too(api: Api) -> None:
    number = open_ticket(api)["number"]
    task = current_task(api, number)
    lena = api.as_("lena")
    claimed = lena.post(f"/api/v1/tasks/{task['id']}/claim").headers["ETag"]
    released = lena.post(f"/api/v1/tasks/{task['id']}/release")
    assert released.status_code == 200 and released.json["assignee"] is None
    assert released.headers["ETag"] != claimed
    assert released.headers["ETag"] == api.as_("root").get(f"/api/v1/tickets/{number}").headers["ETag"]
    done = lena.post(f"/api/v1/tasks/{task['id']}/complete", json=CLASSIFY,
                     headers={"If-Match": released.headers["ETag"]})
    assert done.status_code == 200, done.json


def test_the_openapi_document_says_claim_and_release_answer_an_etag(api: Api) -> None:
    paths = api.client.get("/openapi.json").json["paths"]
    for action in ("claim", "release"):
        assert "ETag" in paths[f"/api/v1/tasks/{{task_id}}/{action}"]["post"]["responses"]["200"]["headers"]
