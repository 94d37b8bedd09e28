"""API v1 for admins over the outbox: list, show, retry; problem+json for everything else."""
from __future__ import annotations

from engine.usecases.outbox import OutboxDelivery
from tests.api.conftest import Api


def open_ticket(api: Api) -> str:
    response = api.as_("alice").post("/api/v1/tickets", json={
        "subject": "Cannot log in", "description": "The login page says invalid token."})
    assert response.status_code == 201, response.json
    return str(response.json["number"])


def test_an_admin_lists_shows_and_retries_a_held_message(api: Api) -> None:
    number = open_ticket(api)
    OutboxDelivery(api.runtime, None).deliver_due()
    root = api.as_("root")
    page = root.get("/api/v1/outbox?state=held").json
    assert page["total"] == 1 and page["items"][0]["ticket"] == number
    item = page["items"][0]
    assert item["state"] == "held" and item["recipient"] == "alice@example.com" and item["attempts"] == 0
    assert item["subject"].startswith(f"[{number}]") and "will respond by" in item["text"]
    shown = root.get(item["href"]).json
    assert shown["message_id"] == item["message_id"] and shown["html"].startswith("<!doctype html>")
    retried = root.post(f"{item['href']}/retry")
    assert retried.status_code == 200 and retried.json["state"] == "pending"
    assert root.get("/api/v1/outbox?state=held").json["total"] == 0
    history = root.get(f"/api/v1/tickets/{number}/history").json["events"]
    assert history[-1]["kind"] == "message_retry_requested" and history[-1]["actor"] == "root"


def test_a_delivered_message_is_not_retried(api: Api) -> None:
    open_ticket(api)
    from engine.store.outbox import OutboxStore

    with api.runtime.uow() as uow:  # as a worker would after the server accepted it
        OutboxStore(uow.connection).delivered(1, api.runtime.clock(), "250 OK")
        uow.commit()
    response = api.as_("root").post("/api/v1/outbox/1/retry")
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert "already delivered" in response.json["detail"]


def test_the_outbox_is_for_admins_only_and_refuses_bad_queries_in_plain_words(api: Api) -> None:
    open_ticket(api)
    for name in ("lena", "aude", "alice"):
        assert api.as_(name).get("/api/v1/outbox").status_code == 403
    root = api.as_("root")
    bad = root.get("/api/v1/outbox?state=sent")
    assert bad.status_code == 400 and "pending, held, delivered, dead" in bad.json["detail"]
    assert root.get("/api/v1/outbox?colour=red").status_code == 400
    for missing in ("999", "abc", "99999999999999999999"):
        response = root.get(f"/api/v1/outbox/{missing}")
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert root.post("/api/v1/outbox/999/retry").status_code == 404
    assert "/api/v1/outbox/{message_id}/retry" in root.get("/openapi.json").json["paths"]
