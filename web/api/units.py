"""Units and their service levels over the API: list and read (staff), create or replace (admins).

``PUT /api/v1/units/{code}`` takes the document ``ticketflow unit load`` reads from TOML, as JSON; its problems
come back as 422 with a JSON pointer per field, and nothing is changed. ``If-Match`` (the unit's ETag) is optional.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from engine.usecases.units import UnitAdmin
from web.api.v1 import expected_version, json_object, only_query
from web.auth import authenticate_api, current_actor, roles

units_api = Blueprint("units_api", __name__, url_prefix="/api/v1")
units_api.before_request(authenticate_api)
STAFF = ("l1", "l2", "process_owner", "auditor", "admin")


def _admin() -> UnitAdmin:
    return UnitAdmin(current_app.extensions["ticketflow"].runtime)


def _unit_response(doc: dict[str, Any], version: int, status: int = 200) -> tuple[Response, int, dict[str, str]]:
    return jsonify({**doc, "version": version}), status, {"ETag": f'"{version}"'}


@units_api.get("/units")
@roles(*STAFF)
def list_units() -> Response:
    only_query()
    return jsonify({"items": _admin().list_units()})


@units_api.get("/units/<code>")
@roles(*STAFF)
def get_unit(code: str) -> tuple[Response, int, dict[str, str]]:
    only_query()
    return _unit_response(*_admin().unit(code))


@units_api.put("/units/<code>")
@roles("admin")
def put_unit(code: str) -> tuple[Response, int, dict[str, str]]:
    only_query()
    body = json_object()
    body.pop("version", None)  # what GET returned may be sent back as it is
    return _unit_response(*_admin().put_unit(current_actor(), code, body, expected_version()))
