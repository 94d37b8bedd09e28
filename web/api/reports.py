"""API v1 reports: the summary over a range of days as JSON, and the same figures as CSV.

The CSV is tidy long format, one figure per row: ``figure,dimension,value``. Totals and rates have an empty
dimension; ``opened_per_day``, ``closed_per_day`` and ``backlog_per_day`` rows carry the day; ``sla_*`` rows the
priority; an unknown value (a rate over no ticket) is empty. Which tickets each figure counts is documented in
``engine.usecases.reports`` and in the OpenAPI description.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.usecases import reports as figures
from engine.usecases.reports import PRIORITIES, ReportQuery, ReportService, SummaryReport, long_rows
from web.api.v1 import only_query
from web.auth import authenticate_api, current_actor, roles

reports_api = Blueprint("reports_api", __name__, url_prefix="/api/v1")
reports_api.before_request(authenticate_api)
READERS = ("l1", "l2", "process_owner", "auditor", "admin")
PARAMETERS = ("from", "to", "unit", "priority")


def summary_from_request() -> SummaryReport:
    """The report for this request's query parameters, as its caller."""
    only_query(*PARAMETERS)
    args = request.args
    query = ReportQuery(args.get("from"), args.get("to"), args.get("unit"), args.get("priority"))
    return ReportService(current_app.extensions["ticketflow"].runtime).summary(current_actor(), query)


def report_csv(report: SummaryReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("figure", "dimension", "value"))
    writer.writerows(long_rows(report))
    return out.getvalue()


def csv_name(report: SummaryReport) -> str:
    parts = ["ticketflow-summary", report.start.isoformat(), report.end.isoformat()]
    return "-".join(parts + [p for p in (report.unit, report.priority) if p]) + ".csv"


@reports_api.get("/reports/summary")
@roles(*READERS)
def summary() -> Response:
    return jsonify(summary_from_request().to_dict())


@reports_api.get("/reports/summary.csv")
@roles(*READERS)
def summary_csv() -> Response:
    report = summary_from_request()
    # A unit code is free text: keep only safe characters in the suggested file name.
    name = "".join(ch for ch in csv_name(report) if ch.isascii() and (ch.isalnum() or ch in "-_."))
    return Response(report_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def report_paths(responses: Any, query: Any) -> dict[str, Any]:
    """The two report operations for the OpenAPI document (``responses`` and ``query`` are its helpers)."""
    day = {"type": "string", "format": "date"}
    parameters = [query("from", day, "first day, UTC, included (default: 29 days before 'to')"),
                  query("to", day, "last day, UTC, included (default: today); at most ten years after 'from'"),
                  query("unit", {"type": "string", "minLength": 1, "maxLength": 50},
                        "only tickets of this unit (404 if unknown)"),
                  query("priority", {"type": "string", "enum": list(PRIORITIES)}, "only tickets of this priority")]
    csv_ok = responses(200, None, 403, 404, 422)
    csv_ok["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    csv_ok["200"]["description"] = "Tidy long CSV: figure,dimension,value (see the JSON operation)"
    return {
        "/api/v1/reports/summary": {"get": {
            "summary": "Summary report over a range of days (l1, l2, process_owner, auditor, admin)",
            "description": figures.__doc__ or "", "operationId": "report_summary", "parameters": parameters,
            "responses": responses(200, summary_schema(), 403, 404, 422)}},
        "/api/v1/reports/summary.csv": {"get": {
            "summary": "The summary report as CSV, one figure per row", "operationId": "report_summary_csv",
            "description": __doc__ or "", "parameters": parameters, "responses": csv_ok}},
    }


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def summary_schema() -> dict[str, Any]:
    count, fraction = {"type": "integer", "minimum": 0}, {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    seconds, text = {"type": ["number", "null"], "minimum": 0}, {"type": ["string", "null"]}
    duration = _object({"measured": count, "median_s": seconds, "p90_s": seconds})
    return _object({
        "scope": _object({"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
                          "days": count, "time_zone": {"type": "string"}, "unit": text, "priority": text}),
        "tickets": _object({k: count for k in ("opened", "closed", "open_at_start", "open_at_end")}),
        "series": {"type": "array", "items": _object({"day": {"type": "string", "format": "date"},
                                                       "opened": count, "closed": count, "backlog": count})},
        "outcomes": _object({**{k: count for k in ("first_contact_resolved", "escalated", "persisted", "reminders",
                                                   "follow_ups")},
                             **{k: fraction for k in ("first_contact_resolution_rate", "escalation_rate",
                                                      "persists_rate")}}),
        "times": _object({"first_response": duration, "resolution": duration}),
        "sla": {"type": "array", "items": _object({
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            **{k: count for k in ("closed", "first_response_met", "resolution_met", "both_met")},
            **{k: fraction for k in ("first_response_rate", "resolution_rate", "both_rate")}})},
        "knowledge": _object({**{k: count for k in ("uses", "drafts_created", "drafts_from_tickets", "published")},
                              "deflections": {"type": ["integer", "null"], "minimum": 0}}),
    })
