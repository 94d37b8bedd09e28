"""The reports page: the figures in words (shares, business durations, dates), the charts' data for the script,
the tables as the fallback without JavaScript, a CSV link with the same filters, and bad filters explained."""
from __future__ import annotations

import json
import re
from typing import Any

from engine.runtime import Runtime
from tests.e2e.conftest import Page
from tests.integration.test_reports import populate

MARCH = "/reports?from=2026-03-01&to=2026-03-07"


def words(html: str, element: str) -> str:
    return " ".join(Page.of(html).text_of[element].split())


def test_the_reports_page_tells_the_figures_in_words(runtime: Runtime, visit: Any) -> None:
    populate(runtime)
    html = visit("petra").get(MARCH).text
    assert "From 1 March 2026 to 7 March 2026 (whole days, UTC)" in words(html, "report-scope")
    assert words(html, "card-volume") == ("Tickets 11 opened and 9 closed. "
                                          "2 were open when the period began, 4 at its end.")
    assert "67% resolved at first contact (6 of 9 closed)" in words(html, "card-first-contact")
    assert "33% escalated to second level; 11% came back because the issue persisted" in words(
        html, "card-first-contact")
    # 950 s, 3420 s, 14400 s and 93600 s of business time
    assert words(html, "card-times") == (
        "Time taken (business time) First response: half within 16 min, nine in ten within 57 min. "
        "Resolution: half within 4 h, nine in ten within 26 h.")
    assert "4 reminders sent; 1 follow-up by first level" in words(html, "card-follow-up")
    assert "2 customers found their answer without opening a ticket" in words(html, "card-knowledge")
    sla = words(html, "sla-table").replace(" ", "")  # cells run together in the parsed text
    assert "P1(critical)250%50%0%" in sla and "P5(planning)0noneclosed" in sla
    assert "Sun1Mar2026314" in words(html, "days-table").replace(" ", "")
    # no raw figures: no fractions with decimals, no seconds, no ISO timestamps in what people read
    shown = " ".join(Page.of(html).text_of.values())
    assert not re.search(r"\d\.\d{2,}|\d+ ?s\b|\d{4}-\d{2}-\d{2}T", shown)


def test_the_charts_read_their_figures_from_a_json_block_and_the_csv_link_keeps_the_filters(
        runtime: Runtime, visit: Any) -> None:
    populate(runtime)
    html = visit("lena").get(MARCH + "&priority=P1").text
    data = json.loads(Page.of(html).text_of["report-data"])
    assert data["days"][0] == "2026-03-01" and data["backlog"] == [0, 0, 1, 1, 1, 1, 0]
    assert (data["priorities"], data["first_response"], data["resolution"]) == (["P1"], [50.0], [50.0])
    assert '<script src="/static/build/reports.js" defer></script>' in html
    page = Page.of(html)
    assert "/api/v1/reports/summary.csv?from=2026-03-01&amp;to=2026-03-07&amp;priority=P1" in html
    assert page.chosen["priority"] == "P1"


def test_bad_filters_are_explained_and_customers_are_kept_out(runtime: Runtime, visit: Any) -> None:
    lena = visit("lena")
    reversed_range = lena.get("/reports?from=2026-03-07&to=2026-03-01", status=422).text
    assert "To: &#39;to&#39; is before &#39;from&#39;." in reversed_range
    assert "There is no unit called “nowhere”." in lena.get("/reports?unit=nowhere", status=422).text
    assert "report-data" not in reversed_range
    visit("alice").get("/reports", status=403)
    assert 'href="/reports"' in visit("ada").get("/inbox").text
