"""API v1 for auditors: chain and anchor checks, deterministic replay, "as of" views, streamed export.

Auditors and admins only. Every auditor read is itself recorded (``audit_access``, append-only)."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from engine.errors import FieldError, InvalidInput
from engine.usecases.audit import AuditService
from web.api.v1 import int_arg, only_query, record_auditor_read
from web.auth import authenticate_api, current_actor, roles
from web.problems import ApiError

audit_api = Blueprint("audit_api", __name__, url_prefix="/api/v1")
audit_api.before_request(authenticate_api)
AUDITORS = ("auditor", "admin")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def audit() -> AuditService:
    return current_app.extensions["ticketflow"].audit


@audit_api.get("/tickets/<number>/audit")
@roles(*AUDITORS)
def verify_ticket(number: str) -> Response:
    only_query()
    report = audit().verify_ticket(number)
    record_auditor_read(number, "audit", ok=report.ok)
    return jsonify(report.to_dict())


@audit_api.get("/tickets/<number>/replay")
@roles(*AUDITORS)
def replay_ticket(number: str) -> Response:
    only_query("until")
    until = int_arg("until", 0, 1, 10**9) if "until" in request.args else None
    report = audit().replay(number, until)
    record_auditor_read(number, "replay", until=until, outcome=report.outcome)
    return jsonify(report.to_dict())


@audit_api.get("/tickets/<number>/as-of")
@roles(*AUDITORS)
def ticket_as_of(number: str) -> Response:
    only_query("seq")
    if "seq" not in request.args:
        raise ApiError(400, "Malformed query", "give the event's sequence number: ?seq=N")
    seq = int_arg("seq", 1, 1, 10**9)
    view = audit().as_of(number, seq)
    record_auditor_read(number, "as_of", seq=seq)
    return jsonify(view.to_dict())


@audit_api.get("/audit/verify")
@roles(*AUDITORS)
def verify_all() -> Response:
    only_query()
    report = audit().verify_all()
    record_auditor_read(None, "audit", scope="all", ok=report.ok)
    return jsonify(report.to_dict())


@audit_api.post("/audit/anchors")
@roles(*AUDITORS)
def anchor() -> tuple[Response, int]:
    only_query()
    return jsonify(audit().anchor(current_actor()).to_dict()), 201


@audit_api.get("/audit/export")
@roles(*AUDITORS)
def export() -> Response:
    """Events with from <= at < to, streamed line by line (constant memory whatever the period)."""
    only_query("from", "to", "format")
    fmt = request.args.get("format", "jsonl")
    start, end = _when("from"), _when("to")
    lines = audit().export(start, end, fmt)  # checks its arguments before the first line
    record_auditor_read(None, "export", start=start.isoformat(), end=end.isoformat(), format=fmt)
    filename = f"ticketflow-events-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.{fmt}"
    return Response(stream_with_context(lines), mimetype=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _when(name: str) -> datetime:
    """An ISO 8601 date-time with an offset that UTC can also express (``9999-12-31T23:59:59+14:00`` cannot)."""
    raw = request.args.get(name)
    try:
        value = datetime.fromisoformat(raw or "")
        if value.tzinfo is None:
            raise ValueError("no offset")
        value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput("the export cannot be made", [
            FieldError(f"/{name}", "must be an ISO 8601 date-time with a timezone offset, "
                                   "between years 1 and 9999 in UTC")]) from None
    return value
