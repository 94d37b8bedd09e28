"""The admins' units page: each unit's time zone, business hours, closing days and service-level targets in
words, and a unit changed by uploading its TOML file (as ``ticketflow unit load`` reads it) or by editing its
JSON document (as ``PUT /api/v1/units/{code}`` takes it). Both go through the same use case, which checks the
document whole: any problem is shown by its field and nothing is changed."""
from __future__ import annotations

import json
import tomllib
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import limits
from engine.errors import Conflict, FieldError, InvalidInput, NotFound
from engine.execution.business_time import WEEKDAYS, parse_duration
from engine.usecases.units import CODE, UnitAdmin
from web.pages.admin import admin_only, sentence
from web.pages.views import pages, runtime, signed_in

DAY_WORDS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
MAX_UPLOAD = 256 * 1024  # a unit's file with its holiday calendar is a few kilobytes


def units(code: str | None = None) -> UnitAdmin:
    """The unit use cases, for admins; a ``code`` no unit can have is 404 before the database is asked."""
    admin_only()
    if code is not None and not CODE.fullmatch(code):
        raise NotFound(f"unit {code[:60]!r} does not exist")
    return UnitAdmin(runtime())


@pages.get("/admin/units")
@signed_in
def admin_units() -> str:
    listed = units().list_units()
    return render_template("admin_units.html", units=[(u, in_words(u)) for u in listed], problems=[])


@pages.post("/admin/units")
@signed_in
def upload_unit() -> tuple[str, int] | Response:
    """A unit's TOML file, creating the unit it names or replacing it."""
    admin = units()
    try:
        doc = storable(uploaded_toml())
        code = doc.get("code")
        _, version = admin.put_unit(admin_only(), code if isinstance(code, str) else "", doc)
    except InvalidInput as refused:
        listed = admin.list_units()
        return render_template("admin_units.html", units=[(u, in_words(u)) for u in listed],
                               problems=by_field(refused)), 422
    flash(f"Unit {code} is saved (version {version}). Running tickets use it from their next step.")
    return redirect(url_for("pages.admin_units"))


@pages.get("/admin/units/<code>")
@signed_in
def edit_unit(code: str) -> str:
    doc, version = units(code).unit(code)  # NotFound (404) for an unknown unit
    return render_template("admin_unit.html", code=code, version=version, words=in_words(doc),
                           text=json.dumps(doc, indent=2, ensure_ascii=False), problems=[])


@pages.post("/admin/units/<code>")
@signed_in
def save_unit(code: str) -> tuple[str, int] | Response:
    """The unit's JSON document from the text area, or a TOML file when one is uploaded."""
    admin = units(code)
    text = request.form.get("document", "")
    version = request.form.get("version", "")
    try:
        doc = storable(uploaded_toml() if request.files.get("file") else parsed_json(text))
        admin.put_unit(admin_only(), code, doc, int(version) if version.isdigit() else None)
    except InvalidInput as refused:
        return edited_again(admin, code, text, by_field(refused)), 422
    except Conflict as refused:
        return edited_again(admin, code, text, [("", sentence(refused.detail))]), 409
    flash(f"Unit {code} is saved. Running tickets use it from their next step.")
    return redirect(url_for("pages.admin_units"))


def edited_again(admin: UnitAdmin, code: str, text: str, problems: list[tuple[str, str]]) -> str:
    """The edit page once more: the unit as stored now, the text as sent, and what is wrong with it."""
    try:
        current, version = admin.unit(code)
    except NotFound:  # a new unit whose first document was refused
        current, version = {}, None
    return render_template("admin_unit.html", code=code, version=version, words=in_words(current) if current else None,
                           text=text or json.dumps(current, indent=2, ensure_ascii=False), problems=problems)


def uploaded_toml() -> dict[str, Any]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("no file", [FieldError("/file", "choose the unit's TOML file")])
    raw = upload.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise InvalidInput("too large", [FieldError("/file", f"a unit's file is at most {MAX_UPLOAD // 1024} KB")])
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput("not TOML", [FieldError("/file", f"not valid TOML: {exc}")]) from None
    holidays = doc.get("holidays")
    if isinstance(holidays, dict) and "calendar_file" in holidays:
        raise InvalidInput("calendar file", [FieldError("/holidays/calendar_file", "an uploaded file cannot name "
                                                        "another file: put the calendar's text in calendar")])
    return doc


def parsed_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("not JSON", [FieldError("/document", f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                                                f"column {exc.colno}")]) from None


def storable(doc: Any) -> Any:
    """``doc`` unless a text in it cannot be stored (a NUL character, say): then each such field is named."""
    problems = [FieldError(pointer, reason) for pointer, reason in limits.unstorable_strings(doc)]
    if problems:
        raise InvalidInput("unstorable text", problems)
    return doc


def by_field(refused: InvalidInput) -> list[tuple[str, str]]:
    """(the field as a path of names, what is wrong) for each problem; the whole document's under ""."""
    problems = [(" › ".join(p for p in e.pointer.split("/") if p), e.message) for e in refused.errors]
    return problems or [("", refused.detail)]


# -- in words -------------------------------------------------------------------------------------
def in_words(unit: dict[str, Any]) -> dict[str, Any]:
    """A unit document as an admin reads it: hours per day, closing days, targets per priority."""
    hours = unit.get("hours") or {}
    open_days = [f"{DAY_WORDS[d]} {', '.join(i.replace('-', '–') for i in hours[d])}" for d in WEEKDAYS
                 if hours.get(d)]
    closed = [DAY_WORDS[d] for d in WEEKDAYS if not hours.get(d)]
    targets = []
    for priority, target in sorted((unit.get("targets") or {}).items()):
        around = bool(target.get("24x7"))
        targets.append((priority, f"first response within {duration(target.get('first_response'), around)}, "
                                  f"resolved within {duration(target.get('resolution'), around)}"
                                  + (", around the clock" if around else ", in business hours")))
    return {"hours": open_days, "closed": closed, "holidays": holidays_words(unit.get("holidays") or {}),
            "targets": targets, "first_response": duration(unit.get("first_response"), False),
            "response_window": duration(unit.get("response_window"), True)}


def duration(text: Any, calendar: bool) -> str:
    """``P1DT4H`` as "1 business day 4 h" (or "1 day 4 h" in calendar time)."""
    try:
        span = parse_duration(text)
    except ValueError:
        return str(text)
    hours, rest = divmod(span.seconds, 3600)
    parts = [f"{span.days} {'' if calendar else 'business '}day{'s' if span.days != 1 else ''}"] if span.days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{rest // 60} min"] if rest // 60 else []
    return " ".join(parts) or "no time"


def holidays_words(holidays: dict[str, Any]) -> str:
    said = []
    if holidays.get("country"):
        where = holidays["country"] + (f" ({holidays['subdivision']})" if holidays.get("subdivision") else "")
        said.append(f"public holidays of {where}")
    if holidays.get("calendar"):
        said.append("the days of its own closing calendar")
    return " and ".join(said) if said else "none"
