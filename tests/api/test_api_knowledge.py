"""The knowledge base over HTTP: the quality gate at task completion, review transitions, stale edits, roles,
search with marked snippets, and deflections."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.store.models import KbDeflection
from engine.usecases.knowledge import import_kb_file
from tests.api.conftest import Api, complete, current_task, open_ticket
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, SOLUTION

DEMO_KB = Path(__file__).parents[2] / "ticketflow" / "data" / "demo_kb.json"
DRAFT = {"slug": "printer-offline", "title": "Printer shows offline after a router change",
         "problem": "The office printer shows as offline on every laptop since the router was replaced.",
         "cause": "The printer kept its old fixed IP address, outside the new router's range.",
         "resolution": "Set the printer to DHCP, then re-add it on each laptop by its new address."}


def at_apply_solution(api: Api) -> tuple[str, str]:
    number = open_ticket(api)["number"]
    complete(api, number, "lena", CLASSIFY)
    complete(api, number, "lena", ASSESS_RESOLVE)
    return number, current_task(api, number)["id"]


def test_a_vague_resolution_is_refused_with_field_errors_and_a_good_one_accepted(api: Api) -> None:
    number, task_id = at_apply_solution(api)
    api.as_("lena").post(f"/api/v1/tasks/{task_id}/claim")
    vague = {**SOLUTION, "actions_taken": "Fixed. Fixed. Fixed. Fixed. Fixed. ok",
             "observed_outcome": "done, it is fine"}
    refused = api.as_("lena").post(f"/api/v1/tasks/{task_id}/complete", json=vague)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    errors = {e["pointer"]: e["detail"] for e in refused.json["errors"]}
    assert set(errors) == {"/actions_taken", "/observed_outcome"}
    assert "Exact actions taken" in errors["/actions_taken"] and "different words" in errors["/actions_taken"]
    assert "Observed outcome must say what you observed" in errors["/observed_outcome"]
    assert current_task(api, number)["id"] == task_id  # nothing changed
    good = {**SOLUTION, "actions_taken": "Cleared the stale session token on the account, asked the customer to "
            "sign in with the new password and watched the sign-in succeed in the audit log.",
            "observed_outcome": "The customer signed in on the first attempt and now sees their dashboard."}
    assert api.as_("lena").post(f"/api/v1/tasks/{task_id}/complete", json=good).status_code == 200


def test_review_lifecycle_with_versions_and_409_on_the_wrong_state(api: Api) -> None:
    otto, petra = api.as_("otto"), api.as_("petra")
    created = otto.post("/api/v1/kb/articles", json=DRAFT)
    assert created.status_code == 201 and created.json["state"] == "draft" and created.headers["ETag"] == '"1"'
    base = "/api/v1/kb/articles/printer-offline"
    assert petra.post(f"{base}/send-back", json={"note": "x"}).status_code == 409  # a draft is not in review
    edited = petra.client.patch(base, json={"environment": "Office network, HP LaserJet", "note": "added model"},
                                headers={"Authorization": f"Bearer {api.tokens['petra']}", "If-Match": '"1"'})
    assert edited.status_code == 200 and edited.json["version"] == 2
    assert otto.post(f"{base}/submit").json["state"] == "in_review"
    assert otto.post(f"{base}/submit").status_code == 409
    back = petra.post(f"{base}/send-back", json={"note": "Say which router model."})
    assert back.json["state"] == "draft" and back.json["review_note"] == "Say which router model."
    assert otto.post(f"{base}/submit").status_code == 200
    published = petra.post(f"{base}/publish").json
    assert published["state"] == "published" and published["reviewer"] == "petra"
    assert published["published_at"] == published["reviewed_at"] and published["review_by"] > published["reviewed_at"]
    assert petra.post(f"{base}/publish").status_code == 409
    assert petra.post(f"{base}/archive").json["state"] == "archived"
    assert petra.post(f"{base}/archive").status_code == 409
    detail = otto.get(base).json
    assert [(v["version"], v["editor"], v["note"]) for v in detail["versions"]] == [
        (2, "petra", "added model"), (1, "otto", "created")]
    assert detail["published_at"] == published["published_at"]  # the first publication stays


def test_a_stale_edit_is_refused_with_409(api: Api) -> None:
    api.as_("otto").post("/api/v1/kb/articles", json=DRAFT)
    headers = {"Authorization": f"Bearer {api.tokens['otto']}"}
    path = "/api/v1/kb/articles/printer-offline"
    assert api.client.patch(path, json={"tags": "printer"}, headers={**headers, "If-Match": '"1"'}).status_code == 200
    stale = api.client.patch(path, json={"tags": "router"}, headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 409 and "changed since you read it" in stale.json["detail"]
    assert api.as_("otto").get(path).json["tags"] == "printer"


@pytest.mark.parametrize("user", ["alice", "lena", "aude"])
def test_only_reviewers_review(api: Api, user: str) -> None:
    api.as_("otto").post("/api/v1/kb/articles", json=DRAFT)
    caller = api.as_(user)
    for action in ("submit", "publish", "archive"):
        assert caller.post(f"/api/v1/kb/articles/printer-offline/{action}").status_code == 403
    patched = api.client.patch("/api/v1/kb/articles/printer-offline", json={"tags": "x"},
                               headers={"Authorization": f"Bearer {api.tokens[user]}"})
    assert patched.status_code == 403


def test_the_review_queue_lists_drafts_oldest_first(api: Api) -> None:
    clock = api.runtime.clock
    for slug in ("second-older", "first-newer"):
        api.as_("otto").post("/api/v1/kb/articles", json={**DRAFT, "slug": slug})
        clock.advance(minutes=5)  # type: ignore[attr-defined]
    api.as_("otto").post("/api/v1/kb/articles/first-newer/publish")
    queue = api.as_("lena").get("/api/v1/kb/articles?state=draft").json
    assert [a["slug"] for a in queue["items"]] == ["second-older"] and queue["total"] == 1
    assert api.as_("lena").get("/api/v1/kb/articles?state=lost").status_code == 422


def test_search_marks_only_the_matched_words_and_escapes_the_rest(api: Api) -> None:
    api.as_("otto").post("/api/v1/kb/articles", json=DRAFT)  # a draft: agents find it, customers do not
    api.as_("otto").post("/api/v1/kb/articles", json={
        **DRAFT, "slug": "script-tag", "title": "Printer <script>alert(1)</script> offline", "state": "published"})
    found = api.as_("lena").get("/api/v1/kb/search?q=printer offline script").json["items"]
    assert [m["slug"] for m in found] == ["script-tag", "printer-offline"]
    assert found[0]["relevance"] == "strong match" and found[1]["state"] == "draft"
    assert "score" not in found[0]
    snippet = found[0]["snippet_html"]
    assert "<mark>" in snippet and "<script>" not in snippet
    customer = api.as_("alice").get("/api/v1/kb/suggest?q=printer offl").json["items"]
    assert [m["slug"] for m in customer] == ["script-tag"]


def test_customers_see_published_articles_only_and_record_a_deflection(api: Api) -> None:
    import_kb_file(api.runtime, DEMO_KB)
    alice = api.as_("alice")
    assert alice.get("/api/v1/kb/articles/invoice-pdf-draft").status_code == 404
    article = alice.get("/api/v1/kb/articles/reset-token-cache").json
    assert "versions" not in article and article["source_ticket"] is None
    assert alice.post("/api/v1/kb/articles/invoice-pdf-draft/deflections", json={"query": "logo"}).status_code == 404
    done = alice.post("/api/v1/kb/articles/reset-token-cache/deflections", json={"query": "login token " * 40})
    assert done.status_code == 204
    assert api.as_("lena").post("/api/v1/kb/articles/reset-token-cache/deflections", json={}).status_code == 403
    with api.runtime.uow() as uow:
        (deflection,) = uow.session.scalars(select(KbDeflection))
        assert deflection.user_name == "alice" and len(deflection.query) == 200


def test_old_and_new_article_shapes_are_accepted(api: Api) -> None:
    old = api.as_("root").post("/api/v1/kb/articles", json={"slug": "old-shape", "title": "T", "body": "B",
                                                            "keywords": "k", "published": True})
    assert old.status_code == 201 and old.json["resolution"] == "B" and old.json["tags"] == "k"
    assert old.json["state"] == "published"
    missing = api.as_("root").post("/api/v1/kb/articles", json={"slug": "no-body", "title": "T"})
    assert missing.status_code == 422
