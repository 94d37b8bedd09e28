"""API v1 for process owners: deployed versions, the active one, what changed, and moving running tickets."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.errors import FieldError, InvalidInput, NotFound
from engine.process.forms import validate_form
from engine.runtime import Runtime
from engine.usecases.migrations import MigrationRequest, Migrations
from web.api.serialize import definition_json
from web.api.v1 import AGENT_READERS, json_body
from web.auth import authenticate_api, current_actor, roles
from web.problems import ApiError

definitions_api = Blueprint("definitions_api", __name__, url_prefix="/api/v1")
definitions_api.before_request(authenticate_api)
OWNERS = ("process_owner", "admin")
MAX_VERSION = 2**31 - 1
BASE_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
LARGEST_VERSION = 2**31 - 1  # the column's range on every database
MAX_MIGRATED_PER_CALL = 200  # a bulk migration is a series of calls, each a bounded amount of work

# The body of a migration request (also published in /openapi.json).
MIGRATION_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["from", "to"],
    "properties": {
        "from": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "to": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "tickets": {"type": "array", "items": {"type": "string", "maxLength": 20}, "minItems": 1,
                    "maxItems": MAX_MIGRATED_PER_CALL},
        "all": {"type": "boolean"},
        "mapping": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 255},
                    "maxProperties": 200},
        "dry_run": {"type": "boolean"},
    },
}


def runtime() -> Runtime:
    return current_app.extensions["ticketflow"].runtime


@definitions_api.get("/definitions")
@roles(*AGENT_READERS)
def list_definitions() -> Response:
    active = runtime().active_versions()
    return jsonify({"items": [definition_json(row, active) for row in runtime().list_definitions()]})


@definitions_api.post("/definitions")
@roles(*OWNERS)
def deploy_definition() -> tuple[Response, int]:
    """Deploy; active at once unless ``?activate=false`` (then activate it with the route below). With
    ``?base=<sha256>`` of the version the caller edited, 409 when another version was deployed since."""
    activate = request.args.get("activate", "true")
    if activate not in ("true", "false"):
        raise InvalidInput("activate must be true or false", [FieldError("/activate", "use true or false")])
    base = base_sha256(request.args.get("base"))
    bpmn, forms = _uploaded_bundle()
    row, created = runtime().deploy_upload(bpmn, forms, current_actor(), activate=activate == "true",
                                           base_sha256=base)
    body = {**definition_json(row, runtime().active_versions()), "created": created}
    return jsonify(body), 201 if created else 200


@definitions_api.post("/definitions/lint")
@roles(*OWNERS)
def lint_definition() -> Response:
    """What would stop this diagram (and its forms) from deploying, each problem on its element; changes nothing."""
    bpmn, forms = _uploaded_bundle()
    problems = runtime().lint_upload(bpmn, forms, current_actor())
    return jsonify({"problems": [p.as_dict() for p in problems]})


def base_sha256(raw: str | None) -> str | None:
    """The ``base`` a deploy was edited from: a version's SHA-256 in hex, or none."""
    if raw is None:
        return None
    if not BASE_PATTERN.fullmatch(raw):
        raise InvalidInput("base must be a version's sha256", [FieldError("/base", "64 hexadecimal digits")])
    return raw.lower()


@definitions_api.get("/definitions/<key>/diff")
@roles(*AGENT_READERS)
def definition_diff(key: str) -> Response:
    """``?from=V&to=W``: the semantic changes between two versions."""
    versions = [_version_arg(name) for name in ("from", "to")]
    changes = runtime().diff_versions(key, versions[0], versions[1])
    return jsonify({"key": key, "from": versions[0], "to": versions[1], "changes": [c.as_dict() for c in changes]})


@definitions_api.post("/definitions/<key>/versions/<int:version>/activate")
@roles(*OWNERS)
def activate_definition(key: str, version: int) -> Response:
    if version > MAX_VERSION:  # past any version number the database can hold
        raise NotFound(f"process '{key}' has no version {version}")
    row, changed = runtime().activate(key, version, current_actor())
    return jsonify({**definition_json(row, {row.key: row.version}), "changed": changed})


@definitions_api.post("/definitions/<key>/migrations")
@roles(*OWNERS)
def migrate_tickets(key: str) -> Response:
    """Move (or with ``dry_run`` assess) the named tickets, or with ``all`` up to 200 open tickets per call;
    ``remaining`` says how many are still on the old version (call again to continue)."""
    body = json_body()
    validate_form(MIGRATION_SCHEMA, body)
    if bool(body.get("tickets")) == bool(body.get("all")):
        raise InvalidInput("say which tickets to move", [FieldError("/tickets", "give 'tickets' or 'all': true, "
                                                                                  "not both")])
    request_ = MigrationRequest(key, body["from"], body["to"], tuple(body.get("tickets", ())),
                                body.get("mapping") or {}, bool(body.get("dry_run")), limit=MAX_MIGRATED_PER_CALL)
    migrations = Migrations(runtime())
    moves = migrations.run(request_, current_actor())
    return jsonify({"moves": [m.as_dict() for m in moves], "remaining": migrations.remaining(key, body["from"])})


def _version_arg(name: str) -> int:
    raw = request.args.get(name, "")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LARGEST_VERSION:
        raise InvalidInput(f"'{name}' must be a version number",
                           [FieldError(f"/{name}", f"a whole number from 1 to {LARGEST_VERSION}")])
    return int(raw)


def _uploaded_bundle() -> tuple[bytes, dict[str, bytes]]:
    """The diagram and any form files, from a multipart form (``bpmn`` + ``forms``) or a raw XML body."""
    if request.mimetype == "multipart/form-data":
        diagram = request.files.get("bpmn")
        if diagram is None:
            raise InvalidInput("no diagram uploaded", [FieldError("/bpmn", "attach the .bpmn file as 'bpmn'")])
        unknown = sorted((set(request.files) - {"bpmn", "forms"}) | set(request.form))
        if unknown:
            raise InvalidInput("unexpected fields in the upload", [
                FieldError(f"/{name}", "send only the files 'bpmn' and 'forms'") for name in unknown])
        forms = {f.filename or "": f.read() for f in request.files.getlist("forms")}
        if "" in forms:
            raise InvalidInput("a form file has no name", [FieldError("/forms", "every form file needs its name")])
        return diagram.read(), forms
    if request.mimetype in ("application/xml", "text/xml", "application/bpmn+xml"):
        return request.get_data(cache=True), {}
    raise ApiError(415, "Unsupported media type", "upload the diagram as multipart/form-data (field 'bpmn', "
                   "optional 'forms') or as an application/xml body")
