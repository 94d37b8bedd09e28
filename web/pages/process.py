"""The diagram on the pages: the XML the bpmn-js viewer loads (a ticket's pinned version, or a definition's),
and the process owners' live view of where the open tickets wait now (a heat map)."""
from __future__ import annotations

from flask import render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Forbidden
from engine.usecases.process_view import LiveProcess, ProcessView
from web.auth import record_auditor_read
from web.pages.diagram import DiagramView, diagram_of
from web.pages.views import me, pages, query_text, runtime, signed_in

XML = "application/xml"


def process_view() -> ProcessView:
    return ProcessView(runtime())


def diagram_response(bpmn: bytes, sha256: str) -> Response:
    """The diagram XML; a definition never changes, so its hash is a strong validator."""
    response = Response(bpmn, mimetype=XML)
    response.set_etag(sha256)
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Content-Disposition"] = "inline"
    return response.make_conditional(request)


@pages.get("/tickets/<number>/diagram.bpmn")
@signed_in
def ticket_diagram(number: str) -> Response:
    """The diagram version ticket ``number`` runs on, for the support team members who may read it."""
    actor = me().actor
    if actor.role == "customer":
        raise Forbidden("the procedure's diagram is for the support team")
    runtime().get_ticket(number, actor)  # NotFound for a ticket this reader may not see
    _, sha256, bpmn = runtime().pinned_definition(number)
    return diagram_response(bpmn, sha256)


@pages.get("/definitions/<key>/diagram.bpmn")
@signed_in
def definition_diagram(key: str) -> Response:
    """A definition's newest diagram, or the version named by ``?version=``."""
    raw = request.args.get("version", "")
    version = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else None
    definition = process_view().definition(key, me().actor, version)
    return diagram_response(definition.bpmn, definition.sha256)


@pages.get("/process")
@signed_in
def live_process() -> str:
    """Where the open tickets wait now, per step of the newest diagram."""
    live = process_view().live(query_text("key"), me().actor)
    record_auditor_read(None, "tickets", page="process", key=live.definition.key)
    diagram = diagram_of(live.definition.sha256, live.definition.bpmn)
    waiting = sorted(((diagram.name_of(e), n) for e, n in live.waiting.items()), key=lambda pair: (-pair[1], pair[0]))
    return render_template("process.html", live=live, waiting=waiting, diagram=heat_view(live))


def heat_view(live: LiveProcess) -> DiagramView:
    definition = live.definition
    name = definition.key.replace("_", " ")
    return DiagramView(url_for("pages.definition_diagram", key=definition.key, version=definition.version),
                       f"The {name} process, version {definition.version}, with the number of tickets waiting at "
                       "each step", counts=live.waiting, mode="heat")
