"""Units' rows: the service-level defaults of rows left null, and reading and writing units as documents."""
from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Table, select

from engine.store.models import Unit

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
DEFAULT_HOURS: dict[str, list[str]] = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
DEFAULT_TARGETS: dict[str, dict[str, Any]] = {
    "P1": {"first_response": "PT1H", "resolution": "PT4H", "24x7": True},
    "P2": {"first_response": "PT2H", "resolution": "P1D", "24x7": False},
    "P3": {"first_response": "PT4H", "resolution": "P3D", "24x7": False},
    "P4": {"first_response": "P1D", "resolution": "P5D", "24x7": False},
    "P5": {"first_response": "P2D", "resolution": "P10D", "24x7": False},
}
UNIT = cast(Table, Unit.__table__)
# A unit document's fields (TOML file, API body) and the columns they are stored in.
_SCALARS = ("name", "time_zone", "first_response", "response_window", "reminder_every", "follow_up_after")


def document(row: Any) -> dict[str, Any]:
    """A unit row as the document ``unit load`` reads and the API serves (defaults filled in)."""
    holidays: dict[str, Any] = {}
    if row.holiday_country:
        holidays["country"] = row.holiday_country
    if row.holiday_subdivision:
        holidays["subdivision"] = row.holiday_subdivision
    if row.holiday_calendar:
        holidays["calendar"] = row.holiday_calendar
    return {"code": row.code, **{name: getattr(row, name) for name in _SCALARS},
            "reminder_every": row.reminder_every or row.response_window,
            "hours": row.business_hours or DEFAULT_HOURS, "holidays": holidays,
            "targets": row.targets or DEFAULT_TARGETS}


def columns(doc: dict[str, Any]) -> dict[str, Any]:
    """The column values of a checked unit document."""
    holidays = doc.get("holidays") or {}
    return {**{name: doc[name] for name in _SCALARS}, "business_hours": doc["hours"], "targets": doc["targets"],
            "holiday_country": holidays.get("country"), "holiday_subdivision": holidays.get("subdivision"),
            "holiday_calendar": holidays.get("calendar")}


def all_units(connection: Connection) -> list[Any]:
    return list(connection.execute(select(UNIT).order_by(UNIT.c.code)).all())


def unit_row(connection: Connection, code: str) -> Any | None:
    return connection.execute(select(UNIT).where(UNIT.c.code == code)).first()


def save_unit(connection: Connection, code: str, values: dict[str, Any], version: int | None) -> int:
    """Insert the unit or update it (only at ``version`` when given); return its new version, 0 when stale."""
    if unit_row(connection, code) is None:
        connection.execute(UNIT.insert().values(code=code, version=1, **values))
        return 1
    update = UNIT.update().where(UNIT.c.code == code).values(version=UNIT.c.version + 1, **values)
    if version is not None:
        update = update.where(UNIT.c.version == version)
    if connection.execute(update).rowcount != 1:
        return 0
    row = unit_row(connection, code)
    return int(row.version) if row is not None else 0
