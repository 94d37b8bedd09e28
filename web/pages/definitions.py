"""The process owner's versions page: what is deployed and active, deploy a diagram, activate a version, see
what changed between two, and move running tickets (a dry run first)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import DefinitionRejected, Forbidden, InvalidInput, NotFound
from engine.usecases.migrations import MigrationRequest, Migrations, TicketMove
from web.pages.views import me, pages, runtime, signed_in

OWNERS = ("process_owner", "admin")
READERS = (*OWNERS, "auditor")
OUTCOME_WORDS = {"moved": "moved", "movable": "can move", "refused": "cannot move", "skipped": "skipped"}


def _allowed(roles: tuple[str, ...]) -> None:
    if me().role not in roles:
        raise Forbidden("only process owners and admins change the process; auditors may look")


@pages.get("/definitions")
@signed_in
def definitions_page() -> str:
    _allowed(READERS)
    versions = runtime().version_summaries()
    return render_template("definitions.html", versions=versions, may_change=me().role in OWNERS)


@pages.post("/definitions")
@signed_in
def deploy_diagram() -> Response | tuple[str, int]:
    _allowed(OWNERS)
    diagram = request.files.get("bpmn")
    if diagram is None or not diagram.filename:
        flash("Choose the diagram file (.bpmn) to deploy.")
        return redirect(url_for("pages.definitions_page"))
    forms = {f.filename: f.read() for f in request.files.getlist("forms") if f.filename}
    try:
        row, created = runtime().deploy_upload(diagram.read(), forms, me().actor,
                                               activate=request.form.get("activate") == "yes")
    except DefinitionRejected as rejected:
        return render_template("definitions.html", versions=runtime().version_summaries(), may_change=True,
                               problems=rejected.problems), 422
    flash(f"Deployed as version {row.version}." if created else
          f"Nothing new: this is the content of version {row.version}. Make it active below if you want it back.")
    return redirect(url_for("pages.definitions_page"))


@pages.post("/definitions/<key>/<int:version>/activate")
@signed_in
def activate_version(key: str, version: int) -> Response:
    _allowed(OWNERS)
    try:
        row, changed = runtime().activate(key, version, me().actor)
    except NotFound as missing:
        flash(missing.detail[:1].upper() + missing.detail[1:] + ".")
    else:
        flash(f"Version {row.version} is now active: new tickets start on it." if changed
              else f"Version {row.version} was already active.")
    return redirect(url_for("pages.definitions_page"))


@pages.get("/definitions/<key>/diff")
@signed_in
def version_diff(key: str) -> str:
    _allowed(READERS)
    before, after = request.args.get("from", type=int), request.args.get("to", type=int)
    if before is None or after is None:
        raise NotFound("choose two versions to compare")
    changes = runtime().diff_versions(key, before, after)
    return render_template("definition_diff.html", key=key, before=before, after=after, changes=changes)


@pages.post("/definitions/<key>/migrate")
@signed_in
def migrate_versions(key: str) -> str | tuple[str, int]:
    _allowed(OWNERS)
    numbers = tuple(n for n in request.form.get("tickets", "").replace(",", " ").split() if n)
    source, target = request.form.get("from", type=int), request.form.get("to", type=int)
    if source is None or target is None:
        flash("Choose the version the tickets are on and the one to move them to.")
        return render_template("definitions.html", versions=runtime().version_summaries(), may_change=True), 422
    order = MigrationRequest(key, source, target, numbers, _mapping(request.form.get("mapping", "")),
                             dry_run=request.form.get("action") != "move", limit=None if numbers else 200)
    try:
        moves: list[TicketMove] = Migrations(runtime()).run(order, me().actor)
    except (InvalidInput, NotFound) as refused:
        flash(refused.detail[:1].upper() + refused.detail[1:] + ".")
        return render_template("definitions.html", versions=runtime().version_summaries(), may_change=True), 422
    return render_template("migration.html", key=key, order=order, moves=moves, words=OUTCOME_WORDS,
                           remaining=Migrations(runtime()).remaining(key, source))


def _mapping(text: str) -> dict[str, str]:
    """``old=new`` pairs, one per line or comma-separated."""
    pairs = [item.partition("=") for item in text.replace(",", "\n").splitlines() if item.strip()]
    return {old.strip(): new.strip() for old, _, new in pairs if old.strip() and new.strip()}
