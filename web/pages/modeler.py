"""The process owner's modeler: the bpmn-js Modeler (web/assets/modeler.js) over a deployed version, and the
page-session routes it saves through (the API takes bearer tokens only): check, then deploy a new inactive
version from the version opened, refused with 409 when someone deployed another since."""
from __future__ import annotations

from dataclasses import dataclass

from flask import jsonify, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, Forbidden, InvalidInput
from engine.process.lint import Problem
from engine.store.models import ProcessDefinition
from web.api.definitions import base_sha256
from web.pages.views import me, pages, query_text, runtime, signed_in

OWNERS = ("process_owner", "admin")
MAX_FORM_FILES = 200


@dataclass(frozen=True)
class Opened:
    """The version the modeler opens, the newest of its key, and what its properties panel offers."""

    version: ProcessDefinition
    newest: ProcessDefinition
    forms: dict[str, str]  # the opened version's form files, then the newest's others: editable beside it
    operators: list[str]


def _owner() -> None:
    if me().role not in OWNERS:
        raise Forbidden("only process owners and admins edit the process")


def _opened(key: str | None, version: int | None) -> Opened | None:
    rows = runtime().list_definitions()  # newest first per key
    key = key or next((row.key for row in rows), None)
    mine = [row for row in rows if row.key == key]
    if not mine:
        return None
    wanted = version or runtime().active_versions().get(mine[0].key, mine[0].version)
    opened = next((row for row in mine if row.version == wanted), mine[0])
    forms = {**dict(mine[0].forms), **dict(opened.forms)}
    return Opened(opened, mine[0], forms, sorted(runtime().loader.operators))


@pages.get("/modeler")
@signed_in
def modeler_page() -> str:
    _owner()
    raw = request.args.get("version", "")
    version = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 9 else None
    opened = _opened(query_text("key"), version)
    diagram_url = url_for("pages.definition_diagram", key=opened.version.key, version=opened.version.version) \
        if opened else None
    return render_template("modeler.html", opened=opened, diagram_url=diagram_url)


@pages.post("/modeler/check")
@signed_in
def modeler_check() -> Response:
    """The problems that would stop the diagram (and its forms) from deploying; changes nothing."""
    _owner()
    bpmn, forms = _bundle()
    return jsonify({"problems": [p.as_dict() for p in runtime().lint_upload(bpmn, forms, me().actor)]})


@pages.post("/modeler/save")
@signed_in
def modeler_save() -> tuple[Response, int]:
    """Check, then deploy as a new version that is not active yet; the page offers to activate it."""
    _owner()
    try:
        base = base_sha256(request.form.get("base") or None)
        bpmn, forms = _bundle()
    except InvalidInput as refused:
        return jsonify({"detail": refused.detail}), 422
    problems: list[Problem] = runtime().lint_upload(bpmn, forms, me().actor)
    if problems:
        return jsonify({"problems": [p.as_dict() for p in problems]}), 422
    try:
        row, created = runtime().deploy_upload(bpmn, forms, me().actor, activate=False, base_sha256=base)
    except Conflict as stale:
        return jsonify({"detail": stale.detail[:1].upper() + stale.detail[1:] + "."}), 409
    active = runtime().active_versions().get(row.key) == row.version
    return jsonify({"key": row.key, "version": row.version, "sha256": row.sha256, "created": created,
                    "active": active, "message": _saved_words(row.version, created, active),
                    "activate_url": url_for("pages.activate_version", key=row.key, version=row.version)}), \
        201 if created else 200


def _saved_words(version: int, created: bool, active: bool) -> str:
    if created:
        return f"Version {version} deployed, not active: new tickets still start on the active version."
    state = "already active" if active else "not active"
    return f"Nothing new: this is the content of version {version} ({state})."


def _bundle() -> tuple[bytes, dict[str, bytes]]:
    """The diagram and the form files the page sent (multipart: ``bpmn`` and any ``forms``)."""
    diagram = request.files.get("bpmn")
    if diagram is None:
        raise InvalidInput("no diagram was sent")
    files = request.files.getlist("forms")[:MAX_FORM_FILES]
    return diagram.read(), {f.filename: f.read() for f in files if f.filename}
