"""Units and their service levels: list, read, and load or replace one (admins), from a TOML file or the API.

A unit document (``docs/units.example.toml`` explains each field) is checked whole before anything is written;
every problem is a ``FieldError`` whose pointer names the field (``/targets/P2/resolution``), so the CLI can
name the file's line and the API a JSON pointer. Steps read the unit at each step, so a change applies to
running tickets from their next step.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.access import Actor
from engine.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from engine.execution.business_time import check_calendar, parse_duration, parse_week
from engine.store import units as store
from engine.store.units import PRIORITIES

from .base import RuntimeCore

CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
FIELDS = ("code", "name", "time_zone", "first_response", "response_window", "reminder_every", "follow_up_after",
          "hours", "holidays", "targets")
REQUIRED = ("name", "time_zone", "first_response", "response_window", "hours", "targets")
TARGET_FIELDS = ("first_response", "resolution", "24x7")
HOLIDAY_FIELDS = ("country", "subdivision", "calendar")
MAX_FOLLOW_UP_AFTER = 100


def _admin_only(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins change units and their service levels")


class UnitAdmin:
    """Units as documents: what ``ticketflow unit`` and ``/api/v1/units`` read and write."""

    def __init__(self, runtime: RuntimeCore) -> None:
        self.runtime = runtime

    def list_units(self) -> list[dict[str, Any]]:
        with self.runtime.uow(read_only=True) as uow:
            return [{**store.document(row), "version": int(row.version)} for row in store.all_units(uow.connection)]

    def unit(self, code: str) -> tuple[dict[str, Any], int]:
        """The unit's document and its version (the API's ETag)."""
        with self.runtime.uow(read_only=True) as uow:
            row = store.unit_row(uow.connection, code)
            if row is None:
                raise NotFound(f"unit '{code}' does not exist")
            return store.document(row), int(row.version)

    def put_unit(self, actor: Actor, code: str, doc: Any, expected_version: int | None = None) -> tuple[
            dict[str, Any], int]:
        """Create or replace the unit ``code`` with ``doc`` (checked whole first); return it and its version."""
        _admin_only(actor)
        checked = check_unit(code, doc)
        with self.runtime.uow() as uow:
            version = store.save_unit(uow.connection, code, store.columns(checked), expected_version)
            if version == 0:
                raise Conflict(f"unit '{code}' was changed meanwhile (you saw version {expected_version}): "
                               "reload and try again")
            uow.commit()
        return self.unit(code)


def check_unit(code: str, doc: Any) -> dict[str, Any]:
    """The unit document with defaults filled in; InvalidInput naming every wrong field otherwise."""
    if not isinstance(doc, dict):
        raise InvalidInput("a unit is an object of fields", [FieldError("", "expected an object")])
    errors: list[FieldError] = []
    if not CODE.fullmatch(code or ""):
        errors.append(FieldError("/code", "a unit's code is 1 to 50 lower-case letters, digits, '-' or '_'"))
    elif doc.get("code", code) != code:
        errors.append(FieldError("/code", f"the document is for unit {doc.get('code')!r}, not {code!r}"))
    errors += [FieldError(f"/{key}", "unknown field") for key in doc if key not in FIELDS]
    errors += [FieldError(f"/{key}", "required") for key in REQUIRED if key not in doc]
    checked = {"reminder_every": doc.get("response_window"), "follow_up_after": 3, "holidays": {}, **doc,
               "code": code}
    for key, check in _CHECKS.items():
        if key in doc:
            errors += check(doc[key])
    if errors:
        raise InvalidInput(f"unit '{code}' was not changed: {len(errors)} problem(s)", errors)
    return checked


def _text(pointer: str, value: Any, limit: int) -> list[FieldError]:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        return [FieldError(pointer, f"expected a text of 1 to {limit} characters")]
    return []


def _zone(value: Any) -> list[FieldError]:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return [FieldError("/time_zone", f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin)")]
    return []


def _duration(pointer: str) -> Callable[[Any], list[FieldError]]:
    def check(value: Any) -> list[FieldError]:
        try:
            span = parse_duration(value)
        except ValueError as exc:
            return [FieldError(pointer, str(exc))]
        return [] if span.days or span.seconds else [FieldError(pointer, "a target must be longer than zero")]
    return check


def _follow_up_after(value: Any) -> list[FieldError]:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FOLLOW_UP_AFTER:
        return [FieldError("/follow_up_after", f"expected a whole number of reminders, 1 to {MAX_FOLLOW_UP_AFTER}")]
    return []


def _hours(value: Any) -> list[FieldError]:
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        return [FieldError("/hours", 'expected weekdays with lists of intervals, e.g. mon = ["09:00-17:00"]')]
    errors = []
    for day, intervals in value.items():
        try:
            parse_week({day: intervals})
        except (ValueError, TypeError) as exc:
            errors.append(FieldError(f"/hours/{day}", str(exc)))
    if not errors and not any(value.values()):
        errors.append(FieldError("/hours", "a unit needs some working hours"))
    return errors


def _holidays(value: Any) -> list[FieldError]:
    if not isinstance(value, dict):
        return [FieldError("/holidays", "expected country, subdivision and/or calendar")]
    errors = [FieldError(f"/holidays/{key}", "unknown field") for key in value if key not in HOLIDAY_FIELDS]
    country, subdivision = value.get("country"), value.get("subdivision")
    if country is not None or subdivision is not None:
        errors += _country(country, subdivision)
    calendar = value.get("calendar")
    if calendar is not None:
        errors += _calendar(calendar)
    return errors


def _calendar(text: Any) -> list[FieldError]:
    if not isinstance(text, str) or not text.strip():
        return [FieldError("/holidays/calendar", "expected the text of an iCalendar file (BEGIN:VCALENDAR ...)")]
    try:
        check_calendar(text)
    except Exception as exc:  # noqa: BLE001 - whatever the parser trips on, the answer is "not a calendar"
        message = str(exc) if isinstance(exc, ValueError) else "not valid iCalendar text"
        return [FieldError("/holidays/calendar", message)]
    return []


def _country(country: Any, subdivision: Any) -> list[FieldError]:
    import holidays  # a large package: imported when a unit names a country

    supported = holidays.list_supported_countries()
    if not isinstance(country, str) or country not in supported:
        return [FieldError("/holidays/country", f"{country!r} is not a country the holidays package knows "
                                                "(an ISO 3166 code such as DE, US, FR)")]
    if subdivision is not None and (not isinstance(subdivision, str) or subdivision not in supported[country]):
        return [FieldError("/holidays/subdivision", f"{subdivision!r} is not a subdivision of {country} "
                                                    f"(one of {', '.join(supported[country][:12])}, ...)")]
    return []


def _targets(value: Any) -> list[FieldError]:
    if not isinstance(value, dict):
        return [FieldError("/targets", "expected P1 to P5, each with first_response and resolution")]
    errors = [FieldError(f"/targets/{key}", f"unknown priority; use {', '.join(PRIORITIES)}")
              for key in value if key not in PRIORITIES]
    errors += [FieldError(f"/targets/{key}", "required") for key in PRIORITIES if key not in value]
    for priority in PRIORITIES:
        errors += _target(priority, value.get(priority))
    return errors


def _target(priority: str, target: Any) -> list[FieldError]:
    if target is None:
        return []
    pointer = f"/targets/{priority}"
    if not isinstance(target, dict):
        return [FieldError(pointer, "expected first_response, resolution and optionally 24x7")]
    errors = [FieldError(f"{pointer}/{key}", "unknown field") for key in target if key not in TARGET_FIELDS]
    for clock in ("first_response", "resolution"):
        errors += _duration(f"{pointer}/{clock}")(target[clock]) if clock in target else [
            FieldError(f"{pointer}/{clock}", "required")]
    if not isinstance(target.get("24x7", False), bool):
        errors.append(FieldError(f"{pointer}/24x7", "expected true or false"))
    return errors


_CHECKS: dict[str, Callable[[Any], list[FieldError]]] = {
    "name": lambda v: _text("/name", v, 200),
    "time_zone": _zone,
    "first_response": _duration("/first_response"),
    "response_window": _duration("/response_window"),
    "reminder_every": _duration("/reminder_every"),
    "follow_up_after": _follow_up_after,
    "hours": _hours,
    "holidays": _holidays,
    "targets": _targets,
}
