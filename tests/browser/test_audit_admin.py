"""The auditor's and the admin's landing pages in Chromium: verify all, a tampered ticket named, one ticket's
audit with its replay and download, the way to the stepper; users with a token shown once, units in words and an
edit refused by its field. Every page is checked by axe-core and photographed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.runtime import Runtime
from engine.usecases.units import UnitAdmin
from tests.browser.helpers import marked
from tests.conftest import CLASSIFY, CUSTOMER, L1, complete_current, intake
from tests.integration.helpers import tamper


def test_an_auditor_verifies_everything_and_audits_a_ticket(runtime: Runtime, visit: Any,
                                                            tokens: dict[str, str]) -> None:
    good = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, good, L1, CLASSIFY)
    forged = runtime.open_ticket(intake(subject="Printer jams"), CUSTOMER).number
    ada = visit(tokens["ada"])
    page = ada.page
    assert page.url.endswith("/audit")
    ada.check("audit-not-run")
    with page.expect_navigation():
        page.click("#verify-all")
    ada.check("audit-intact")
    assert page.inner_text("#verify-badge") == "Intact"

    tamper(runtime, "UPDATE history_event SET actor = 'mallory' WHERE seq = 1 AND ticket_id = "
           "(SELECT id FROM ticket WHERE number = :n)", n=forged)
    with page.expect_navigation():
        page.click("#verify-all")
    ada.check("audit-broken")
    assert page.inner_text("#verify-badge") == "Broken"
    assert forged in page.inner_text("#verify-verdict") and good not in page.inner_text("#verify-verdict")
    with page.expect_navigation():
        page.click(f"#broken a[href='/tickets/{forged}/audit']")
    ada.check("ticket-audit-broken")
    assert page.inner_text("#chain-badge") == "Chain broken"
    assert "Event 1 was altered" in page.inner_text("#chain-words")

    ada.open("/audit")
    page.fill("#audit-number", good)
    with page.expect_navigation():
        page.click("form[action='/audit/ticket'] button[type=submit]")
    ada.check("ticket-audit")
    assert page.inner_text("#chain-badge") == "Chain verified" and page.inner_text("#replay-badge") == "Consistent"
    with page.expect_download() as download:
        page.click("#download-jsonl")
    lines = Path(download.value.path()).read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [e.seq for e in runtime.ticket_history(good)]
    with page.expect_navigation():
        page.click("#as-of-last")
    ada.check("as-of-latest")
    assert marked(page, "current") == {"assess_first_level"}


def test_an_admin_adds_a_user_and_reads_the_units(runtime: Runtime, visit: Any, tokens: dict[str, str]) -> None:
    root = visit(tokens["root"])
    page = root.page
    assert page.url.endswith("/admin")
    root.check("admin")
    with page.expect_navigation():
        page.click("#card-users h2 a")
    root.check("users")
    page.fill("#user-name", "nina")
    page.select_option("#user-role", "l2")
    with page.expect_navigation():
        page.click("#add-user button[type=submit]")
    root.check("user-added")
    assert page.inner_text("#token").startswith("tf_")
    page.fill("#user-name", "lena")  # a name already taken
    with page.expect_navigation():
        page.click("#add-user button[type=submit]")
    root.problems = [p for p in root.problems if "409" not in p]  # the refusal's status is the point here
    root.check("user-refused")
    assert "already exists" in page.inner_text("#user-name-error")

    root.open("/admin/units")
    root.check("units")
    assert "Mon 09:00–17:00" in page.inner_text("#unit-general")
    with page.expect_navigation():
        page.click("#unit-general a")
    root.check("unit-edit")
    before = UnitAdmin(runtime).unit("general")
    page.fill("#unit-document", json.dumps({**before[0], "time_zone": "Mars/Olympus"}))
    with page.expect_navigation():
        page.click("form:has(#unit-document) button[type=submit]")
    root.problems = [p for p in root.problems if "422" not in p]
    root.check("unit-refused")
    assert "time_zone" in page.inner_text("#unit-problems")
    assert UnitAdmin(runtime).unit("general") == before
