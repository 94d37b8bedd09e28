"""`ticketflow unit load FILE | show NAME | list`: units (support teams), their business hours and service levels."""
from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.errors import FieldError, InvalidInput
from engine.usecases.units import UnitAdmin
from ticketflow.composition import make_runtime

ADMIN = Actor("admin", "admin")
_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*("?)([A-Za-z0-9_-]+)\1\s*=""")


def add_commands(commands: Any, command: Any) -> None:
    """Add `unit load|show|list` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    unit = command(commands, "unit", "units: business hours, holidays and service levels").add_subparsers(
        required=True, metavar="ACTION")
    load = command(unit, "load", "create or replace a unit from a TOML file (see docs/units.example.toml)")
    load.add_argument("file", type=Path, help="the unit's TOML file")
    load.set_defaults(run=_load)
    show = command(unit, "show", "a unit's hours, holidays and targets, readably")
    show.add_argument("name", help="the unit's code, e.g. general")
    show.set_defaults(run=_show)
    listing = command(unit, "list", "every unit, one a line")
    listing.set_defaults(run=_list)


def _load(args: argparse.Namespace, config: EngineConfig) -> int:
    text = args.file.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{args.file}: not valid TOML: {exc}") from None  # tomllib names the line and column
    calendar_file = (doc.get("holidays") or {}).pop("calendar_file", None) if isinstance(doc.get("holidays"),
                                                                                         dict) else None
    if isinstance(calendar_file, str):
        doc["holidays"]["calendar"] = (args.file.parent / calendar_file).read_text(encoding="utf-8")
    code = doc.get("code")
    try:
        _, version = UnitAdmin(make_runtime(config)).put_unit(ADMIN, code if isinstance(code, str) else "", doc)
    except InvalidInput as exc:
        exc.errors = [FieldError(_where(text, e.pointer, args.file), e.message) for e in exc.errors]
        raise
    print(f"unit {code} loaded from {args.file} (version {version}); running tickets use it from their next step")
    return 0


def _where(text: str, pointer: str, file: Path) -> str:
    """``file:line (key.path)`` for a JSON pointer into the TOML document (the line where the key is set)."""
    path = [p for p in pointer.split("/") if p]
    dotted = ".".join(path) or "(the whole file)"
    line = _line_of(text, path)
    return f"line {line} of {file}, {dotted}" if line else f"in {file}, {dotted}"


def _line_of(text: str, path: list[str]) -> int | None:
    table: list[str] = []
    best = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = [part.strip().strip('"') for part in header.group(1).split(".")]
            if table == path:
                return number
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        full = [*table, key.group(2)]
        if full == path:
            return number
        if path[:len(full)] == full and best is None:
            best = number  # the key holding the wrong part (an inline table or array)
    return best


def _show(args: argparse.Namespace, config: EngineConfig) -> int:
    doc, version = UnitAdmin(make_runtime(config)).unit(args.name)
    for line in describe(doc, version):
        print(line)
    return 0


def _list(args: argparse.Namespace, config: EngineConfig) -> int:
    for doc in UnitAdmin(make_runtime(config)).list_units():
        print(f"{doc['code']:<20} {doc['name']}  ({doc['time_zone']})")
    return 0


def describe(doc: dict[str, Any], version: int) -> list[str]:
    """A unit as an admin reads it."""
    hours = doc["hours"]
    days = ", ".join(f"{day} {' and '.join(spans)}" for day, spans in hours.items() if spans) or "none"
    holidays = doc["holidays"]
    closed = [f"public holidays of {holidays['country']}" + (f"-{holidays['subdivision']}"
                                                             if holidays.get("subdivision") else "")
              ] if holidays.get("country") else []
    if holidays.get("calendar"):
        closed.append("the closing days of its own calendar")
    lines = [f"{doc['name']} (unit {doc['code']}, version {version})",
             f"  time zone        {doc['time_zone']}",
             f"  business hours   {days}",
             f"  closed on        {' and '.join(closed) or 'no holidays'}",
             f"  first response   {doc['first_response']} before a priority is set",
             f"  customer window  {doc['response_window']} to answer; a reminder every {doc['reminder_every']}; "
             f"L1 follows up in person after {doc['follow_up_after']} unanswered reminder(s)",
             "  targets          first response / resolution"]
    for priority, target in doc["targets"].items():
        clock = "24x7 (hours and holidays ignored)" if target.get("24x7") else "business time"
        lines.append(f"    {priority}             {target['first_response']} / {target['resolution']}, {clock}")
    return lines
