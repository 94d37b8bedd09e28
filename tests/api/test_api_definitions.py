"""The definitions API: deploy inactive, see which version is active, activate another, with roles checked."""
from __future__ import annotations

import pytest
from lxml import etree

from engine.process.lint import NS
from tests.api.conftest import Api
from ticketflow.composition import BUNDLED_DIAGRAM


def renamed_diagram() -> bytes:
    root = etree.fromstring(BUNDLED_DIAGRAM.read_bytes())
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", "Classify (v2)")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def active_version(api: Api) -> int:
    items = api.as_("petra").get("/api/v1/definitions").get_json()["items"]
    return next(item["version"] for item in items if item["active"])


def test_deploy_inactive_then_activate_then_back(api: Api) -> None:
    owner = api.as_("petra")
    staged = owner.post("/api/v1/definitions?activate=false", data=renamed_diagram(), content_type="application/xml")
    assert staged.status_code == 201 and staged.get_json()["active"] is False
    assert active_version(api) == 1

    activated = owner.post("/api/v1/definitions/support_ticket/versions/2/activate")
    assert activated.status_code == 200 and activated.get_json() | {"active": True, "changed": True} \
        == activated.get_json()
    assert active_version(api) == 2
    assert owner.post("/api/v1/definitions/support_ticket/versions/1/activate").get_json()["changed"] is True
    assert active_version(api) == 1


def test_activation_refuses_other_roles_unknown_versions_and_bad_flags(api: Api) -> None:
    assert api.as_("lena").post("/api/v1/definitions/support_ticket/versions/1/activate").status_code == 403
    missing = api.as_("petra").post("/api/v1/definitions/support_ticket/versions/7/activate")
    assert missing.status_code == 404 and "no version 7" in missing.get_json()["detail"]
    bad = api.as_("petra").post("/api/v1/definitions?activate=maybe", data=renamed_diagram(),
                                content_type="application/xml")
    assert bad.status_code == 422
    assert len(api.as_("petra").get("/api/v1/definitions").get_json()["items"]) == 1


def test_the_diff_between_two_versions_names_each_change_in_words(api: Api) -> None:
    owner = api.as_("petra")
    owner.post("/api/v1/definitions?activate=false", data=renamed_diagram(), content_type="application/xml")
    body = owner.get("/api/v1/definitions/support_ticket/diff?from=1&to=2").get_json()
    assert [c["sentence"] for c in body["changes"]] == ["'Classify type and priority' renamed to 'Classify (v2)'"]
    assert owner.get("/api/v1/definitions/support_ticket/diff?from=1&to=1").get_json()["changes"] == []
    assert owner.get("/api/v1/definitions/support_ticket/diff?from=1&to=9").status_code == 404
    assert owner.get("/api/v1/definitions/support_ticket/diff?from=one&to=2").status_code == 422
    assert api.as_("alice").get("/api/v1/definitions/support_ticket/diff?from=1&to=2").status_code == 403


def test_migrating_over_the_api_dry_run_then_for_real(api: Api) -> None:
    owner = api.as_("petra")
    number = api.as_("alice").post("/api/v1/tickets", json={
        "subject": "Cannot log in", "description": "The login page says invalid token."}).get_json()["number"]
    owner.post("/api/v1/definitions?activate=false", data=renamed_diagram(), content_type="application/xml")
    url = "/api/v1/definitions/support_ticket/migrations"

    planned = owner.post(url, json={"from": 1, "to": 2, "all": True, "dry_run": True}).get_json()
    assert planned["moves"] == [{"number": number, "outcome": "movable", "standing": ["Classify type and priority"],
                                 "reason": ""}] and planned["remaining"] == 1
    done = owner.post(url, json={"from": 1, "to": 2, "tickets": [number]}).get_json()
    assert done["moves"][0]["outcome"] == "moved" and done["remaining"] == 0
    assert api.as_("lena").get(f"/api/v1/tickets/{number}").get_json()["ready_tasks"][0]["name"] == "Classify (v2)"


@pytest.mark.parametrize("body", [{"from": 1, "to": 2}, {"from": 1, "to": 2, "all": True, "tickets": ["T-000001"]},
                                  {"from": "1", "to": 2, "all": True}, {"from": 1, "to": 1, "all": True},
                                  {"from": 1, "to": 2, "all": True, "mapping": {"nowhere": "assess_first_level"}}])
def test_bad_migration_requests_are_refused_with_422(api: Api, body: dict[str, object]) -> None:
    api.as_("petra").post("/api/v1/definitions?activate=false", data=renamed_diagram(), content_type="application/xml")
    response = api.as_("petra").post("/api/v1/definitions/support_ticket/migrations", json=body)
    assert response.status_code == 422, response.get_json()
    assert api.as_("lena").post("/api/v1/definitions/support_ticket/migrations",
                                json={"from": 1, "to": 2, "all": True}).status_code == 403
