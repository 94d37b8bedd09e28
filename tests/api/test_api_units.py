"""`/api/v1/units`: staff read units, admins replace them; bad documents are 422 with a JSON pointer each."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.api.conftest import Api


def put(api: Api, who: str, code: str, body: Any, **headers: str) -> Any:
    return api.client.put(f"/api/v1/units/{code}", json=body,
                          headers={"Authorization": f"Bearer {api.tokens[who]}", **headers})


def general(api: Api) -> dict[str, Any]:
    response = api.as_("root").get("/api/v1/units/general")
    assert response.status_code == 200
    return dict(response.get_json())


def test_staff_list_and_read_units_with_their_defaults(api: Api) -> None:
    listed = api.as_("lena").get("/api/v1/units").get_json()["items"]
    assert [u["code"] for u in listed] == ["general"]
    response = api.as_("lena").get("/api/v1/units/general")
    unit = response.get_json()
    assert response.headers["ETag"] == '"1"' and unit["version"] == 1
    assert unit["time_zone"] == "UTC" and unit["hours"]["mon"] == ["09:00-17:00"] and "sat" not in unit["hours"]
    assert unit["targets"]["P1"] == {"first_response": "PT1H", "resolution": "PT4H", "24x7": True}
    assert api.as_("alice").get("/api/v1/units").status_code == 403
    assert api.as_("lena").get("/api/v1/units/nowhere").status_code == 404


def test_an_admin_replaces_a_unit_and_a_stale_if_match_is_refused(api: Api) -> None:
    unit = general(api)
    unit["time_zone"] = "Europe/Paris"
    response = put(api, "root", "general", unit, **{"If-Match": '"1"'})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["time_zone"] == "Europe/Paris" and response.headers["ETag"] == '"2"'
    assert put(api, "root", "general", unit, **{"If-Match": '"1"'}).status_code == 409
    assert put(api, "lena", "general", unit).status_code == 403
    created = put(api, "root", "apac", {**unit, "code": "apac", "name": "APAC support"})
    assert created.status_code == 200 and created.get_json()["code"] == "apac"


@pytest.mark.parametrize(("change", "pointer"), [
    (lambda u: u.update(time_zone="Mars/Olympus"), "/time_zone"),
    (lambda u: u["hours"].update(mon=["09:00-13:00", "12:00-17:00"]), "/hours/mon"),
    (lambda u: u["hours"].update(tue=["17:00-09:00"]), "/hours/tue"),
    (lambda u: u["targets"]["P3"].update(resolution="3 days"), "/targets/P3/resolution"),
    (lambda u: u["targets"].update(P7={"first_response": "PT1H", "resolution": "PT2H"}), "/targets/P7"),
    (lambda u: u.update(holidays={"country": "ZZ"}), "/holidays/country"),
    (lambda u: u.update(holidays={"country": "DE", "subdivision": "XX"}), "/holidays/subdivision"),
    (lambda u: u.update(holidays={"calendar": "not a calendar"}), "/holidays/calendar"),
    (lambda u: u.update(colour="blue"), "/colour"),
    (lambda u: u.pop("targets"), "/targets"),
    (lambda u: u.update(follow_up_after=True), "/follow_up_after"),
])
def test_each_bad_unit_document_is_a_422_naming_the_field_and_changes_nothing(
        api: Api, change: Any, pointer: str) -> None:
    before = general(api)
    unit = copy.deepcopy(before)
    change(unit)
    response = put(api, "root", "general", unit)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    assert pointer in [e["pointer"] for e in response.get_json()["errors"]], response.get_json()
    assert general(api) == before
