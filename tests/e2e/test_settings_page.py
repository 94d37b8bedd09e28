"""The "Your settings" page: anyone signed in sees the zone their times are shown in and changes it, with a
plain confirmation; a zone that does not exist is refused in words, the form keeps it and nothing changes."""
from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask

from engine.runtime import Runtime
from engine.usecases.units import UnitAdmin
from tests.conftest import ADMIN, CUSTOMER, intake
from tests.e2e.conftest import PEOPLE, Page, Visitor

SETTINGS = "/me/settings"


def words(page: str) -> str:
    """What a person reads: the text without markup, entities decoded, on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", page)).split())


@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_every_signed_in_person_reaches_it_from_the_header(visit: Any, person: str) -> None:
    visitor = visit(person)
    home = visitor.get(visitor.get("/", status=302).headers["Location"])
    assert SETTINGS in Page.of(home.text).links
    page = Page.of(visitor.get(SETTINGS).text)
    assert page.chosen["time_zone"] == ""  # none chosen: the default
    assert page.options["time_zone"][0] == "" and {"UTC", "Europe/Lisbon", "Asia/Tokyo"} <= set(
        page.options["time_zone"])
    assert "Times are shown in UTC" in words(page.text_of["zone-in-use"])


def test_a_customer_chooses_a_zone_and_sees_their_times_in_it(visit: Any, runtime: Runtime) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    alice = visit("alice")
    alice.get(SETTINGS)
    done = alice.post(SETTINGS, {"time_zone": "Europe/Lisbon"})
    assert done.headers["Location"].endswith(SETTINGS)
    shown = alice.get(SETTINGS).text
    assert "Times are now shown in Europe/Lisbon." in words(shown)
    page = Page.of(shown)
    assert page.chosen["time_zone"] == "Europe/Lisbon"
    assert "Europe/Lisbon, the zone you chose" in words(page.text_of["zone-in-use"])
    assert re.search(r"\d\d:\d\d WE[S]?T", words(alice.get(f"/tickets/{number}").text))  # Lisbon's abbreviation
    alice.post(SETTINGS, {"time_zone": ""})
    cleared = alice.get(SETTINGS).text
    assert "Times are now shown in UTC (the default)." in words(cleared)
    assert Page.of(cleared).chosen["time_zone"] == ""


def test_the_default_is_the_persons_unit_zone(visit: Any, runtime: Runtime, app: Flask, tokens: Any) -> None:
    units = UnitAdmin(runtime)
    units.put_unit(ADMIN, "berlin", {**units.unit("general")[0], "code": "berlin", "time_zone": "Europe/Berlin"})
    directory = app.extensions["ticketflow"].directory
    _, token = directory.add_user("klaus", "l1", unit="berlin")
    directory.set_time_zone("klaus", "Asia/Tokyo")
    klaus = Visitor(app.test_client())
    klaus.sign_in(token)
    page = Page.of(klaus.get(SETTINGS).text)
    assert page.chosen["time_zone"] == "Asia/Tokyo"
    assert "Use my unit's zone (Europe/Berlin)" in words(klaus.get(SETTINGS).text)
    klaus.post(SETTINGS, {"time_zone": ""})
    assert "Times are now shown in Europe/Berlin (your unit's zone)." in words(klaus.get(SETTINGS).text)
    assert directory.zone_setting("klaus").own is None


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "a" * 500, "../../etc/passwd"])
def test_a_zone_that_does_not_exist_is_refused_and_nothing_changes(visit: Any, app: Flask, zone: str) -> None:
    lena = visit("lena")
    lena.get(SETTINGS)
    lena.post(SETTINGS, {"time_zone": "America/New_York"})
    lena.get(SETTINGS)
    refused = lena.post(SETTINGS, {"time_zone": zone}, status=422)
    page = Page.of(refused.text)
    assert "is not a time zone we know" in page.text_of["time-zone-error"]
    assert "still shown in America/New_York" in page.text_of["time-zone-error"]
    assert page.chosen["time_zone"] == zone  # the form keeps what was sent
    assert app.extensions["ticketflow"].directory.time_zone_of("lena") == "America/New_York"


def test_a_change_without_the_pages_token_is_refused(visit: Any, app: Flask) -> None:
    lena = visit("lena")
    lena.get(SETTINGS)
    lena.post(SETTINGS, {"time_zone": "Europe/Lisbon"}, status=403, csrf="forged")
    assert app.extensions["ticketflow"].directory.time_zone_of("lena") == "UTC"


def test_visitors_not_signed_in_are_sent_to_sign_in(app: Flask) -> None:
    answer = app.test_client().get(SETTINGS)
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]
