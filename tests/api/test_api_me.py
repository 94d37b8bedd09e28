"""GET and PUT /api/v1/me/time-zone: anyone chooses the zone their times are shown in, or goes back to their
unit's (else UTC); a bad zone or a wrong type is 422 (or 400 when the body is not JSON) and changes nothing."""
from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import TestResponse

from engine.usecases.units import UnitAdmin
from tests.api.conftest import Api
from tests.conftest import ADMIN

ZONE = "/api/v1/me/time-zone"


def put_zone(api: Api, user: str, **kwargs: Any) -> TestResponse:
    return api.client.put(ZONE, headers={"Authorization": f"Bearer {api.tokens[user]}"}, **kwargs)


def test_a_customer_chooses_a_zone_and_goes_back_to_the_default(api: Api) -> None:
    assert api.as_("alice").get(ZONE).json == {"time_zone": None, "effective_time_zone": "UTC",
                                               "default_time_zone": "UTC"}
    chosen = put_zone(api, "alice", json={"time_zone": "Europe/Lisbon"})
    assert chosen.status_code == 200, chosen.json
    assert chosen.json == {"time_zone": "Europe/Lisbon", "effective_time_zone": "Europe/Lisbon",
                           "default_time_zone": "UTC"}
    assert api.as_("alice").get(ZONE).json["effective_time_zone"] == "Europe/Lisbon"
    me = api.as_("alice").get("/api/v1/me").json
    assert (me["time_zone"], me["effective_time_zone"]) == ("Europe/Lisbon", "Europe/Lisbon")
    assert api.as_("bob").get(ZONE).json["effective_time_zone"] == "UTC"  # one person's choice only
    cleared = put_zone(api, "alice", json={"time_zone": None})
    assert cleared.status_code == 200 and cleared.json["time_zone"] is None
    assert cleared.json["effective_time_zone"] == "UTC"


def test_without_a_zone_of_their_own_a_person_reads_their_units(api: Api) -> None:
    units = UnitAdmin(api.runtime)
    units.put_unit(ADMIN, "berlin", {**units.unit("general")[0], "code": "berlin", "time_zone": "Europe/Berlin"})
    _, token = api.app.extensions["ticketflow"].directory.add_user("klaus", "l1", unit="berlin")
    caller = {"Authorization": f"Bearer {token}"}
    assert api.client.get(ZONE, headers=caller).json == {"time_zone": None, "effective_time_zone": "Europe/Berlin",
                                                         "default_time_zone": "Europe/Berlin"}
    chosen = api.client.put(ZONE, headers=caller, json={"time_zone": "Asia/Tokyo"})
    assert chosen.json["effective_time_zone"] == "Asia/Tokyo" and chosen.json["default_time_zone"] == "Europe/Berlin"


@pytest.mark.parametrize(("body", "pointer"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "/time_zone"), ({"time_zone": "Europe"}, "/time_zone"),
    ({"time_zone": "a" * 5000}, "/time_zone"), ({"time_zone": "../etc/passwd"}, "/time_zone"),
    ({"time_zone": "localtime"}, "/time_zone"),
    ({"time_zone": 3}, "/time_zone"), ({"time_zone": ["UTC"]}, "/time_zone"), ({}, "/time_zone"),
    ({"time_zone": "UTC", "colour": "red"}, "/colour"), ([], ""),
])
def test_a_bad_zone_is_refused_and_nothing_changes(api: Api, body: Any, pointer: str) -> None:
    assert put_zone(api, "lena", json={"time_zone": "Europe/Lisbon"}).status_code == 200
    refused = put_zone(api, "lena", json=body)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json", refused.json
    assert pointer in [error["pointer"] for error in refused.json["errors"]]
    assert api.as_("lena").get(ZONE).json["time_zone"] == "Europe/Lisbon"


def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    broken = put_zone(api, "lena", data="{time_zone:", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == "application/problem+json"
    assert put_zone(api, "lena", data="UTC", content_type="text/plain").status_code == 415
    assert api.client.put(ZONE, json={"time_zone": "UTC"}).status_code == 401
    assert api.as_("lena").get(ZONE).json["time_zone"] is None
