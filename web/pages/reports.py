"""The reports page: the summary report in words (cards and tables), charts drawn by Chart.js from
``web/static/build/reports.js`` (the tables are the no-JavaScript fallback) and a link to the CSV."""
from __future__ import annotations

from typing import Any

from flask import render_template, request

from engine.errors import Forbidden, InvalidInput, NotFound
from engine.usecases.reports import PRIORITIES, ReportQuery, ReportService, SummaryReport
from web.pages.views import me, pages, runtime, signed_in

READERS = ("l1", "l2", "process_owner", "auditor", "admin")
PRIORITY_WORDS = {"P1": "P1 (critical)", "P2": "P2 (high)", "P3": "P3 (medium)", "P4": "P4 (low)",
                  "P5": "P5 (planning)"}


def percent(value: float | None) -> str:
    """A share in words: "72%"; "no ticket to measure" when nothing was counted."""
    return "no ticket to measure" if value is None else f"{round(value * 100)}%"


def duration(seconds: float | None) -> str:
    """Business seconds in words: "3 h 20 min", "45 min", "less than a minute"."""
    if seconds is None:
        return "no ticket to measure"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def chart_data(report: SummaryReport) -> dict[str, Any]:
    """What ``reports.js`` draws: the daily series and the SLA shares per priority (in percent)."""
    def share(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 1)

    return {"days": [d.day.isoformat() for d in report.days], "opened": [d.opened for d in report.days],
            "closed": [d.closed for d in report.days], "backlog": [d.backlog for d in report.days],
            "priorities": [row.priority for row in report.sla],
            "first_response": [share(row.rates["first_response_rate"]) for row in report.sla],
            "resolution": [share(row.rates["resolution_rate"]) for row in report.sla]}


@pages.get("/reports")
@signed_in
def reports_page() -> tuple[str, int]:
    if me().role not in READERS:
        raise Forbidden("reports are for the support team, process owners and auditors")
    service = ReportService(runtime())
    chosen = {name: request.args.get(name, "").strip()[:60] for name in ("from", "to", "unit", "priority")}
    query = ReportQuery(chosen["from"] or None, chosen["to"] or None, chosen["unit"] or None,
                        chosen["priority"] or None)
    problems: list[str] = []
    report = None
    try:
        report = service.summary(me().actor, query)
    except InvalidInput as refused:
        problems = [f"{error.pointer.lstrip('/').capitalize()}: {error.message}." for error in refused.errors]
    except NotFound:
        problems = [f"There is no unit called “{chosen['unit']}”."]
    if report is not None:
        chosen.update({"from": report.start.isoformat(), "to": report.end.isoformat()})
    return render_template(
        "reports.html", report=report, problems=problems, chosen=chosen, units=service.units(),
        priorities=[(p, PRIORITY_WORDS[p]) for p in PRIORITIES], priority_words=PRIORITY_WORDS,
        chart=chart_data(report) if report else None, percent=percent, duration=duration,
        csv_args={k: v for k, v in chosen.items() if v}), 422 if problems else 200
