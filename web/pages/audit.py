"""The auditors' pages: verify every ticket's chain and the anchors on demand, one ticket's audit (chain, replay,
the way to the history stepper, its history as a download), and a date-range export of every event.

The pages call the same ``AuditService`` use cases as the API, for auditors and admins only, and an auditor's
read is recorded as the API records it. A run of "verify all" is recorded too (for admins as well), which is
how the page knows when it last ran and what it found, whichever process served the run.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, stream_with_context, url_for
from werkzeug.wrappers import Response

from engine import limits
from engine.audit.replay import Divergence
from engine.errors import FieldError, Forbidden, InvalidInput, NotFound
from engine.usecases.audit import EXPORT_FORMATS, AccessView, AllAuditReport, AuditService
from engine.views import EventView
from web.auth import record_auditor_read
from web.pages.views import AUDITORS, me, pages, runtime, signed_in

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
HISTORY_FIELDS = ("ticket", "seq", "at", "actor", "kind", "element_id", "element_name", "lane", "task_id", "data",
                  "hash")
SHOWN_BROKEN = 20  # broken tickets a run keeps by name (the API lists up to 100)
LOOKED_BACK = 1000  # recorded reads searched for the latest run of "verify all"
DEFAULT_EXPORT_DAYS = 30
MAX_NUMBER = 40  # longer than any ticket number
PROBLEM_WORDS = {"altered": "was altered", "missing": "is missing", "reordered": "is out of order",
                 "inserted": "was inserted", "rewritten": "differs from what an anchor recorded"}
REPLAY_WORDS = {"match": "reproduced exactly", "input": "applied as recorded input",
                "recorded": "kept as recorded (not re-executed)"}


def audit() -> AuditService:
    """The audit use cases, for auditors and admins only."""
    if me().role not in AUDITORS:
        raise Forbidden("only auditors and admins audit the record")
    service: AuditService = current_app.extensions["ticketflow"].audit
    return service


# -- verify all -----------------------------------------------------------------------------------
@pages.get("/audit")
@signed_in
def audit_page() -> str:
    service = audit()
    today = runtime().clock().date()
    return render_template("audit.html", last=last_run(service), formats=EXPORT_FORMATS, errors={},
                           start=(today - timedelta(days=DEFAULT_EXPORT_DAYS)).isoformat(), end=today.isoformat(),
                           fmt="jsonl")


@pages.post("/audit/verify")
@signed_in
def verify_all_submit() -> Response:
    service = audit()
    report = service.verify_all()
    record = run_record(report)
    service.record_access(me().actor, None, "audit", record)
    flash("Every ticket's history and the anchors were checked. " + verdict(record))
    return redirect(url_for("pages.audit_page"))


def run_record(report: AllAuditReport) -> dict[str, Any]:
    """What a run of "verify all" keeps in its access record: the figures and the broken tickets by name."""
    broken = [{"ticket": f.number, "seq": f.finding.seq if f.finding else None,
               "problem": f.finding.problem if f.finding else None,
               "detail": f.finding.detail if f.finding else f.anchor_problem} for f in report.failures[:SHOWN_BROKEN]]
    return {"scope": "all", "ok": report.ok, "tickets": report.tickets, "events": report.events,
            "anchors": report.anchors, "failed": report.failed, "anchor_problem": report.anchor_problem,
            "broken": broken}


def last_run(service: AuditService) -> AccessView | None:
    """The latest recorded run of "verify all" (by page or API), among the latest recorded reads."""
    return next((a for a in service.access_log(None, LOOKED_BACK)
                 if a.what == "audit" and a.ticket is None and a.detail.get("scope") == "all"), None)


def verdict(run: dict[str, Any]) -> str:
    """A run's outcome in one sentence."""
    if run.get("ok"):
        tickets = run.get("tickets")
        return ("All chains and anchors are intact." if tickets is None else
                f"All {tickets} tickets' chains and the {run.get('anchors', 0)} anchors are intact.")
    failed = run.get("failed")
    names = ", ".join(b["ticket"] for b in run.get("broken", []))
    if not failed:
        return "The anchors are broken: " + str(run.get("anchor_problem") or "see the API for details") + "."
    more = f" (and {failed - len(run['broken'])} more)" if failed > len(run.get("broken", [])) else ""
    return f"{failed} ticket{'s' if failed != 1 else ''} broken: {names}{more}."


pages.add_app_template_filter(verdict, "verdict")


@pages.get("/audit/ticket")
@signed_in
def audit_lookup() -> Response:
    """The ticket-number box on the audit page leads to that ticket's audit."""
    audit()
    number = request.args.get("number", "").strip().upper()
    if not number or len(number) > MAX_NUMBER or limits.unstorable(number):
        flash("Give a ticket number, like T-000123.")
        return redirect(url_for("pages.audit_page"))
    return redirect(url_for("pages.ticket_audit", number=number))


# -- export ---------------------------------------------------------------------------------------
@pages.get("/audit/export")
@signed_in
def export_download() -> tuple[str, int] | Response:
    """Every event from the first day through the last (whole days in UTC), as a download."""
    service = audit()
    start, end, fmt = (request.args.get(k, "") for k in ("from", "to", "format"))
    try:
        first, last = day_of("from", start), day_of("to", end)
        lines = service.export(first, last + timedelta(days=1), fmt)
    except InvalidInput as exc:
        errors = {e.pointer.strip("/"): e.message for e in exc.errors}
        return render_template("audit.html", last=last_run(service), formats=EXPORT_FORMATS, errors=errors,
                               start=start, end=end, fmt=fmt), 422
    record_auditor_read(None, "export", start=first.isoformat(), end=last.isoformat(), format=fmt, page="audit")
    return download(lines, fmt, f"ticketflow-events-{first:%Y%m%d}-{last:%Y%m%d}.{fmt}")


def day_of(name: str, raw: str) -> datetime:
    """A date from the export form, as midnight UTC; InvalidInput naming the field otherwise."""
    try:
        return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
    except ValueError:
        raise InvalidInput("the export cannot be made",
                           [FieldError(f"/{name}", "give a date like 2026-01-31")]) from None


def download(lines: Iterator[str], fmt: str, filename: str) -> Response:
    return Response(stream_with_context(lines), mimetype=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- one ticket -----------------------------------------------------------------------------------
@pages.get("/tickets/<number>/audit")
@signed_in
def ticket_audit(number: str) -> str:
    service = audit()
    known(number)
    report = service.verify_ticket(number)  # NotFound (404) for an unknown ticket
    replay = service.replay(number)
    record_auditor_read(number, "audit", ok=report.ok, page="audit")
    record_auditor_read(number, "replay", outcome=replay.outcome, page="audit")
    outcomes: dict[str, int] = {}
    for step in replay.steps:
        outcomes[step.outcome] = outcomes.get(step.outcome, 0) + 1
    return render_template("audit_ticket.html", number=number, report=report, replay=replay, outcomes=outcomes,
                           replay_words=REPLAY_WORDS, problem_words=PROBLEM_WORDS,
                           differences=differences(replay.divergence) if replay.divergence else [])


def known(number: str) -> None:
    """Refuse a number no ticket can have before asking the database (PostgreSQL refuses NUL characters)."""
    if len(number) > MAX_NUMBER or limits.unstorable(number):
        raise NotFound(f"ticket {number[:MAX_NUMBER]!r} does not exist")


def differences(divergence: Divergence) -> list[tuple[str, str, str]]:
    """(what, recorded, produced) for each part of the diverging event that the record and the replay disagree on."""
    recorded, produced = divergence.expected or {}, divergence.actual or {}
    rows = []
    for key, title in (("kind", "What happened"), ("element_name", "Step"), ("element_id", "Step id"),
                       ("lane", "Lane"), ("definition", "Procedure version (content hash)")):
        if recorded.get(key) != produced.get(key):
            rows.append((title, worded(recorded.get(key), bool(recorded)), worded(produced.get(key), bool(produced))))
    data_recorded, data_produced = recorded.get("data") or {}, produced.get("data") or {}
    for key in sorted(set(data_recorded) | set(data_produced), key=str):
        if data_recorded.get(key) != data_produced.get(key):
            rows.append((f"Data: {str(key).replace('_', ' ')}", worded(data_recorded.get(key), bool(recorded)),
                         worded(data_produced.get(key), bool(produced))))
    return rows


def worded(value: Any, present: bool) -> str:
    if not present:
        return "nothing (no such event)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value.replace("_", " ") if value.isidentifier() else value
    if isinstance(value, dict) and value:
        return "; ".join(f"{str(k).replace('_', ' ')}: {worded(v, True)}" for k, v in sorted(value.items()))
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@pages.get("/tickets/<number>/audit/history.<fmt>")
@signed_in
def ticket_history_download(number: str, fmt: str) -> Response:
    """The ticket's whole history (every field the chain covers, and each event's hash) as a download."""
    audit()
    known(number)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput("the history cannot be exported", [FieldError("/format", "must be jsonl or csv")])
    events = runtime().ticket_history(number, me().actor)
    record_auditor_read(number, "export", format=fmt, page="audit")
    return download(history_lines(number, events, fmt), fmt, f"ticketflow-{number}-history.{fmt}")


def history_lines(number: str, events: list[EventView], fmt: str) -> Iterator[str]:
    records = ({"ticket": number, "seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "kind": e.kind,
                "element_id": e.element_id, "element_name": e.element_name, "lane": e.lane, "task_id": e.task_id,
                "data": e.data, "hash": e.hash} for e in events)
    if fmt == "jsonl":
        for record in records:
            yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        return
    yield csv_line(list(HISTORY_FIELDS))
    for record in records:
        yield csv_line([json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, dict) else
                        ("" if v is None else v) for v in (record[f] for f in HISTORY_FIELDS)])


def csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
