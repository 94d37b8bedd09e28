"""The summary report's figures against values worked out by hand, on SQLite and PostgreSQL.

The fixture inserts tickets as rows with known timestamps and columns, one per path a ticket can take, plus
knowledge-base articles, uses and deflections. The report covers 1-7 March 2026 (UTC). Every expected number
below is written out, worked from the table in ``TICKETS`` (see the comments), not recomputed by query.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, InvalidInput, NotFound
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.store.models import KbArticle, KbArticleUse, KbDeflection, ProcessDefinition, Ticket, Unit
from engine.usecases.reports import ReportQuery, ReportService
from tests.conftest import (
    ADMIN,
    ASSESS_RESOLVE,
    CLASSIFY,
    CUSTOMER,
    FIX,
    INVESTIGATE,
    L1,
    L2,
    PERSISTS,
    RESOLVED,
    SOLUTION,
    complete_current,
    intake,
)
from tests.integration.helpers import escalate_to_validation
from ticketflow.composition import deploy_file

RANGE = ReportQuery("2026-03-01", "2026-03-07")


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# number: (path, unit, priority, opened, closed, escalations, persists, reminders, follow_ups,
#          first_response_business_s, resolution_business_s, first_response_breached, resolution_breached)
TICKETS: dict[str, tuple[Any, ...]] = {
    "T-1": ("L1 direct", "general", "P3", at(1, 10), at(2, 12), 0, 0, 0, 0, 600, 7200, False, False),
    "T-2": ("escalated", "general", "P2", at(1, 11), at(4, 9), 1, 0, 0, 0, 1200, 36000, False, False),
    "T-3": ("persists loop", "general", "P2", at(2, 8), at(5, 15), 1, 1, 1, 0, 1800, 72000, False, True),
    "T-4": ("reminders and a follow-up", "general", "P3", at(3, 9), at(6, 10), 0, 0, 3, 1, 900, 14400, False, False),
    "T-5": ("first response breached", "general", "P1", at(3, 22), at(4, 18), 0, 0, 0, 0, 7200, 21600, True, False),
    "T-6": ("resolution breached", "general", "P1", at(4, 9), at(7, 23, 30), 1, 0, 0, 0, 300, 180000, False, True),
    "T-7": ("still open", "general", "P3", at(5, 10), None, 0, 0, 0, 0, 400, None, False, False),
    "T-8": ("another unit", "billing", "P3", at(2, 10), at(3, 10), 0, 0, 0, 0, 500, 3000, False, False),
    "T-9": ("another priority", "general", "P4", at(6, 10), at(7, 10), 0, 0, 0, 0, 1000, 5000, False, False),
    # closed in the range but opened before it, and recorded before first responses were measured
    "T-10": ("opened before", "general", "P3", at(27, 10, month=2), at(1, 9), 0, 0, 0, 0, None, 1000, False, False),
    "T-11": ("open since before", "general", "P5", at(20, 10, month=2), None, 0, 0, 0, 0, None, None, False, False),
    "T-12": ("closed after", "general", "P3", at(6, 12), at(9, 10), 0, 0, 0, 0, 700, 9000, False, False),
    "T-13": ("all before", "general", "P3", at(10, month=2), at(12, month=2), 0, 0, 0, 0, 50, 500, False, False),
    "T-14": ("opened after", "general", "P3", at(8, 9), None, 0, 0, 0, 0, None, None, False, False),
    # on the edges: opened at the first instant of the range, closed at the first instant after it
    "T-15": ("edges", "general", "P3", at(1), at(8), 0, 0, 0, 0, None, None, False, False),
}
COLUMNS = ("unit_code", "priority", "opened_at", "closed_at", "escalations", "persists", "reminders", "follow_ups",
           "first_response_business_s", "resolution_business_s", "first_response_breached", "resolution_breached")
# slug: (created, first published, source ticket)
ARTICLES = {"a1-old": (at(1, month=2), at(1, month=2), None), "a2-from-t4": (at(3, 11), at(5, 9), "T-4"),
            "a3-by-hand": (at(6, 14), None, None), "a4-from-t8": (at(2, 16), at(9, 8), "T-8"),
            "a5-published": (at(20, month=2), at(1), None)}
# (article, ticket, relation, at)
USES = [("a1-old", "T-1", "used", at(2, 12)), ("a1-old", "T-9", "used", at(7, 10)),
        ("a5-published", "T-8", "used", at(3, 10)), ("a1-old", "T-13", "used", at(12, month=2)),
        ("a2-from-t4", "T-4", "produced", at(3, 11))]
DEFLECTIONS = [("a1-old", at(1, 12)), ("a5-published", at(7, 23, 59)), ("a1-old", at(8)),
               ("a1-old", at(28, month=2))]


def populate(runtime: Runtime) -> None:
    """Insert the fixture's rows (a second unit, tickets, articles, uses, deflections) in one transaction."""
    with runtime.uow() as uow:
        session = uow.session
        session.add(Unit(code="billing", name="Billing", first_response="PT4H", response_window="P5D"))
        session.flush()
        definition = session.scalars(select(ProcessDefinition.id)).first()
        tickets = {number: Ticket(number=number, status="closed" if row[4] else "with_l1", channel="portal",
                                  customer="alice", contact={"email": "alice@example.com"}, registered_by="alice",
                                  subject=row[0], description=row[0], definition_id=definition, workflow="{}",
                                  **dict(zip(COLUMNS, row[1:], strict=True)))
                   for number, row in TICKETS.items()}
        session.add_all(tickets.values())
        session.flush()
        articles = {slug: KbArticle(slug=slug, title=slug, body=slug, updated_at=created, created_at=created,
                                    published_at=published, published=published is not None,
                                    state="published" if published else "draft",
                                    source_ticket_id=tickets[source].id if source else None)
                    for slug, (created, published, source) in ARTICLES.items()}
        session.add_all(articles.values())
        session.flush()
        session.add_all(KbArticleUse(article_id=articles[a].id, ticket_id=tickets[t].id, relation=r, at=when)
                        for a, t, r, when in USES)
        session.add_all(KbDeflection(article_id=articles[a].id, at=when) for a, when in DEFLECTIONS)
        uow.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def reports(request: pytest.FixtureRequest, runtimes: Callable[..., Runtime]) -> ReportService:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    runtime = runtimes(url)
    deploy_file(runtime)
    populate(runtime)
    return ReportService(runtime)


def test_volumes_per_day_and_backlog_match_the_hand_count(reports: ReportService) -> None:
    report = reports.summary(L1, RANGE).to_dict()
    assert report["scope"] == {"from": "2026-03-01", "to": "2026-03-07", "days": 7, "time_zone": "UTC",
                               "unit": None, "priority": None}
    # open when the range began: T-10 (closed 1 March 09:00) and T-11; T-15 opened at the first instant, inside
    assert report["tickets"] == {"opened": 11, "closed": 9, "open_at_start": 2, "open_at_end": 4}
    assert [(p["day"][-2:], p["opened"], p["closed"], p["backlog"]) for p in report["series"]] == [
        ("01", 3, 1, 4),  # opened T-1 T-2 T-15, closed T-10: open T-11 T-1 T-2 T-15
        ("02", 2, 1, 5),  # opened T-3 T-8, closed T-1
        ("03", 2, 1, 6),  # opened T-4 T-5, closed T-8
        ("04", 1, 2, 5),  # opened T-6, closed T-2 T-5
        ("05", 1, 1, 5),  # opened T-7, closed T-3
        ("06", 2, 1, 6),  # opened T-9 T-12, closed T-4
        ("07", 0, 2, 4),  # closed T-6 (23:30) T-9; T-15 closes at 8 March 00:00, after the range
    ]


def test_outcomes_are_over_the_tickets_closed_in_the_range(reports: ReportService) -> None:
    outcomes = reports.summary(L1, RANGE).to_dict()["outcomes"]
    # closed: T-10 T-1 T-8 T-2 T-5 T-3 T-4 T-6 T-9; escalated T-2 T-3 T-6; persisted T-3
    assert outcomes == {"first_contact_resolved": 6, "escalated": 3, "persisted": 1, "reminders": 4, "follow_ups": 1,
                        "first_contact_resolution_rate": pytest.approx(6 / 9), "escalation_rate": pytest.approx(3 / 9),
                        "persists_rate": pytest.approx(1 / 9)}


def test_median_and_p90_interpolate_between_ranks(reports: ReportService) -> None:
    times = reports.summary(L1, RANGE).to_dict()["times"]
    # first response, T-10 unmeasured: 300 500 600 900 | 1000 1200 1800 7200; median halfway 900..1000,
    # p90 at rank 6.3: 1800 + 0.3 * (7200 - 1800)
    assert times["first_response"] == {"measured": 8, "median_s": 950.0, "p90_s": pytest.approx(3420.0)}
    # resolution: 1000 3000 5000 7200 14400 21600 36000 72000 180000; p90 at rank 7.2: 72000 + 0.2 * 108000
    assert times["resolution"] == {"measured": 9, "median_s": 14400.0, "p90_s": pytest.approx(93600.0)}


def test_sla_attainment_per_priority_counts_each_clock(reports: ReportService) -> None:
    sla = {row["priority"]: row for row in reports.summary(L1, RANGE).to_dict()["sla"]}
    assert list(sla) == ["P1", "P2", "P3", "P4", "P5"]
    counts = {p: (r["closed"], r["first_response_met"], r["resolution_met"], r["both_met"]) for p, r in sla.items()}
    # P1: T-5 late first response, T-6 late resolution; P2: T-3 late resolution; P3: T-10 T-1 T-8 T-4; P4: T-9
    assert counts == {"P1": (2, 1, 1, 0), "P2": (2, 2, 1, 1), "P3": (4, 4, 4, 4), "P4": (1, 1, 1, 1),
                      "P5": (0, 0, 0, 0)}
    assert (sla["P1"]["first_response_rate"], sla["P1"]["resolution_rate"], sla["P1"]["both_rate"]) == (0.5, 0.5, 0)
    assert (sla["P2"]["first_response_rate"], sla["P2"]["resolution_rate"], sla["P2"]["both_rate"]) == (1, 0.5, 0.5)
    assert sla["P5"]["first_response_rate"] is None  # nothing closed: unknown, not 0%


def test_knowledge_figures(reports: ReportService) -> None:
    knowledge = reports.summary(L1, RANGE).to_dict()["knowledge"]
    # uses by T-1 T-9 T-8 (T-13's is before; "produced" is not a use); drafts a2 a3 a4 (a2 a4 from tickets);
    # first published a2 (5 March) a5 (1 March 00:00); deflections 1 March 12:00 and 7 March 23:59
    assert knowledge == {"uses": 3, "drafts_created": 3, "drafts_from_tickets": 2, "published": 2, "deflections": 2}


def test_a_unit_filter_counts_only_that_units_tickets(reports: ReportService) -> None:
    report = reports.summary(L1, ReportQuery("2026-03-01", "2026-03-07", unit="general")).to_dict()
    # every figure without T-8 (billing)
    assert report["tickets"] == {"opened": 10, "closed": 8, "open_at_start": 2, "open_at_end": 4}
    assert report["outcomes"]["first_contact_resolved"] == 5
    assert report["outcomes"]["first_contact_resolution_rate"] == 5 / 8
    # uses by T-1 and T-9; a2 is T-4's draft and published; a3 and a5 belong to no ticket; deflections unknown
    assert report["knowledge"] == {"uses": 2, "drafts_created": 1, "drafts_from_tickets": 1, "published": 1,
                                   "deflections": None}


def test_a_priority_filter_counts_only_that_prioritys_tickets(reports: ReportService) -> None:
    report = reports.summary(L1, ReportQuery("2026-03-01", "2026-03-07", priority="P1")).to_dict()
    # T-5 opened 3 March, closed 4 March; T-6 opened 4 March, closed 7 March
    assert report["tickets"] == {"opened": 2, "closed": 2, "open_at_start": 0, "open_at_end": 0}
    assert [p["backlog"] for p in report["series"]] == [0, 0, 1, 1, 1, 1, 0]
    assert report["outcomes"]["first_contact_resolution_rate"] == 0.5
    assert report["times"]["first_response"] == {"measured": 2, "median_s": 3750.0, "p90_s": pytest.approx(6510.0)}
    assert report["times"]["resolution"] == {"measured": 2, "median_s": 100800.0, "p90_s": pytest.approx(164160.0)}
    assert [row["priority"] for row in report["sla"]] == ["P1"]


def test_the_default_range_is_the_last_thirty_days_to_today(reports: ReportService) -> None:
    report = reports.summary(L1, ReportQuery())  # the fake clock says 2 March 2026
    assert (report.start.isoformat(), report.end.isoformat(), len(report.days)) == ("2026-02-01", "2026-03-02", 30)
    # opened 1-2 March: T-1 T-2 T-15 T-3 T-8; 10 February T-13 and 20, 27 February T-11 T-10
    assert report.opened == 8


@pytest.mark.parametrize(("query", "pointer"), [
    (ReportQuery("2026-03-07", "2026-03-01"), "/to"),
    (ReportQuery("2016-01-01", "2026-01-02"), "/to"),
    (ReportQuery("2026-02-30", "2026-03-01"), "/from"),
    (ReportQuery("1 March", "2026-03-01"), "/from"),
    (ReportQuery("2026-03-01", "20260307"), "/to"),
    (ReportQuery("2026-03-01", "2026-03-07", priority="P9"), "/priority"),
])
def test_bad_parameters_are_refused_naming_the_parameter(reports: ReportService, query: ReportQuery,
                                                         pointer: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        reports.summary(L1, query)
    assert [error.pointer for error in refused.value.errors] == [pointer]


def test_ten_years_exactly_is_allowed(reports: ReportService) -> None:
    assert len(reports.summary(ADMIN, ReportQuery("2016-01-03", "2026-01-02")).days) == 3653


def test_an_unknown_unit_does_not_exist_and_customers_may_not_read_reports(reports: ReportService) -> None:
    with pytest.raises(NotFound):
        reports.summary(L1, ReportQuery(unit="nowhere"))
    with pytest.raises(Forbidden):
        reports.summary(CUSTOMER, RANGE)


def test_two_real_lifecycles_through_the_diagram_are_counted(runtime: Runtime, clock: FakeClock) -> None:
    """One ticket resolved at first level, one escalated that came back once: the steps keep the columns the
    report reads (opened, closed, escalations, persists, business times, breaches), no workflow loaded."""
    direct = runtime.open_ticket(intake(), CUSTOMER).number
    clock.advance(minutes=10)
    for actor, data in [(L1, CLASSIFY), (L1, ASSESS_RESOLVE), (L1, SOLUTION), (CUSTOMER, RESOLVED)]:
        complete_current(runtime, direct, actor, data)
        clock.advance(minutes=5)
    looped = runtime.open_ticket(intake(customer="alice", subject="Invoices are missing"), CUSTOMER).number
    clock.advance(minutes=20)
    escalate_to_validation(runtime, looped)
    for actor, data in [(CUSTOMER, PERSISTS), (L2, INVESTIGATE), (L2, FIX), (L1, SOLUTION), (CUSTOMER, RESOLVED)]:
        clock.advance(minutes=15)
        complete_current(runtime, looped, actor, data)
    report = ReportService(runtime).summary(L1, ReportQuery("2026-03-02", "2026-03-02")).to_dict()
    assert report["tickets"] == {"opened": 2, "closed": 2, "open_at_start": 0, "open_at_end": 0}
    assert {k: report["outcomes"][k] for k in ("first_contact_resolved", "escalated", "persisted")} == {
        "first_contact_resolved": 1, "escalated": 1, "persisted": 1}
    assert report["outcomes"]["first_contact_resolution_rate"] == 0.5
    # both P2 (high impact, medium urgency), both within a Monday morning's targets
    assert [(row["priority"], row["closed"], row["both_met"]) for row in report["sla"] if row["closed"]] == [
        ("P2", 2, 2)]
    # the first public reply is the resolution message, 20 minutes after opening on both
    assert report["times"]["first_response"] == {"measured": 2, "median_s": 1200.0, "p90_s": 1200.0}
    assert report["times"]["resolution"]["measured"] == 2
