"""The agents' views in Chromium: the ticket list searched, filtered and saved as a view, and a task assigned to
a named agent from the inbox; each page checked by axe-core (no serious or critical violation)."""
from __future__ import annotations

from typing import Any

from engine.runtime import Runtime
from tests.conftest import CUSTOMER, intake


def test_an_agent_searches_saves_a_view_and_assigns_a_task(runtime: Runtime, visit: Any,
                                                         tokens: dict[str, str]) -> None:
    printer = runtime.open_ticket(intake(subject="Printer jams on page two"), CUSTOMER).number
    runtime.open_ticket(intake(subject="VPN drops every hour"), CUSTOMER)
    lena = visit(tokens["lena"])
    page = lena.open("/tickets")
    lena.check("tickets")
    page.fill("#q", "printer")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert printer in page.inner_text("table.tickets") and "VPN" not in page.inner_text("table.tickets")
    page.fill("#view-name", "Printers")
    page.click("form.save-view button[type=submit]")
    page.wait_for_load_state()
    assert "Printers" in page.inner_text(".saved-views") and "1 ticket" in page.inner_text(".saved-views")
    lena.check("tickets-with-a-view")

    page = lena.open("/inbox")
    lena.check("inbox-with-assign")
    row = page.locator("tr", has_text=printer)
    row.locator("form.assign select").select_option("lena")
    row.locator("form.assign button[type=submit]").click()
    page.wait_for_load_state()
    assert runtime.get_ticket(printer).ready_tasks[0].assignee == "lena"
    lena.finish()
