"""The caller's own settings over the API: the time zone their times are shown in (any role, customers too).

``GET /api/v1/me/time-zone`` says which zone is in use and why; ``PUT`` with ``{"time_zone": "Europe/Lisbon"}``
chooses one, with ``{"time_zone": null}`` goes back to the unit's zone (else UTC). The same setting as the
"Your settings" page (web/pages/personal.py).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.errors import FieldError, InvalidInput
from engine.usecases.users import ZoneSetting
from web.api.v1 import json_object, only_query
from web.auth import authenticate_api, current_user, directory

me_api = Blueprint("me_api", __name__, url_prefix="/api/v1")
me_api.before_request(authenticate_api)


def zone_json(setting: ZoneSetting) -> dict[str, Any]:
    return {"time_zone": setting.own, "effective_time_zone": setting.effective, "default_time_zone": setting.fallback}


@me_api.get("/me/time-zone")
def my_time_zone() -> Response:
    only_query()
    return jsonify(zone_json(directory().zone_setting(current_user().name)))


@me_api.put("/me/time-zone")
def set_my_time_zone() -> Response:
    only_query()
    body = json_object()
    problems = [FieldError(f"/{key}", "unknown field") for key in sorted(set(body) - {"time_zone"})]
    if "time_zone" not in body:
        problems.append(FieldError("/time_zone", "send a time zone name like Europe/Lisbon, or null for your "
                                                 "unit's zone"))
    elif body["time_zone"] is not None and not isinstance(body["time_zone"], str):
        problems.append(FieldError("/time_zone", "must be a time zone name like Europe/Lisbon, or null"))
    if problems:
        raise InvalidInput("the time zone cannot be set", problems)
    name = current_user().name
    directory().set_time_zone(name, body["time_zone"])
    return jsonify(zone_json(directory().zone_setting(name)))
