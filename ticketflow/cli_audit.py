"""`ticketflow audit ...` and `ticketflow replay`: the auditor's commands over ``engine.audit``."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.errors import InvalidInput
from engine.usecases.audit import AuditReport, AuditService
from ticketflow.composition import make_runtime


def add_commands(commands: Any, command: Any) -> None:
    """Add `audit ...` and `replay` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    """Register the audit and replay subcommands on the CLI's subparsers object."""
    audit = command(commands, "audit", "check, anchor and export the history").add_subparsers(
        required=True, metavar="ACTION")
    verify = command(audit, "verify", "check hash chains and anchors; exit 1 on any failure")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("ticket", nargs="?", help="a ticket number, e.g. T-000123")
    which.add_argument("--all", action="store_true", help="every ticket, and every anchor")
    verify.set_defaults(run=_verify)
    anchor = command(audit, "anchor", "record the head of every ticket changed since the last anchor")
    anchor.add_argument("--as", dest="actor", default="auditor", help="who anchors (recorded)")
    anchor.set_defaults(run=_anchor)
    export = command(audit, "export", "stream the events of a period as JSON Lines or CSV")
    export.add_argument("--from", dest="start", required=True, type=_when, help="ISO 8601 with offset, inclusive")
    export.add_argument("--to", dest="end", required=True, type=_when, help="ISO 8601 with offset, exclusive")
    export.add_argument("--format", dest="fmt", choices=("jsonl", "csv"), default="jsonl",
                        help="JSON Lines (one event a line) or CSV")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=_export)
    replay = command(commands, "replay", "re-execute a ticket on its recorded inputs; exit 1 on divergence")
    replay.add_argument("ticket", help="a ticket number, e.g. T-000123")
    replay.add_argument("--until", type=int, help="stop after the transaction that recorded this event")
    replay.set_defaults(run=_replay)


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a timezone offset (e.g. {text}+00:00 or {text}Z)")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
    return value


def _service(config: EngineConfig) -> AuditService:
    return AuditService(make_runtime(config))


def _verify(args: argparse.Namespace, config: EngineConfig) -> int:
    service = _service(config)
    if args.all:
        report = service.verify_all()
        for failure in report.failures:
            _print_failure(failure)
        if report.failed > len(report.failures):
            print(f"... and {report.failed - len(report.failures)} more failing tickets")
        if report.anchor_problem:
            print(f"anchors: FAILED: {report.anchor_problem}")
        state = "OK" if report.ok else "FAILED"
        print(f"{state}: {report.tickets} tickets, {report.events} events, {report.anchors} anchors checked; "
              f"{report.failed} failing")
        return 0 if report.ok else 1
    one = service.verify_ticket(args.ticket)
    if one.ok:
        anchored = f", anchored up to event {one.anchored_seq}" if one.anchored_seq else ", not anchored yet"
        print(f"{one.number}: OK ({one.events} events{anchored})")
        return 0
    _print_failure(one)
    return 1


def _print_failure(report: AuditReport) -> None:
    if report.finding is not None:
        finding = report.finding
        print(f"{report.number}: FAILED at event {finding.seq} ({finding.problem}): {finding.detail}")
    if report.anchor_problem:
        print(f"{report.number}: FAILED: {report.anchor_problem}")


def _anchor(args: argparse.Namespace, config: EngineConfig) -> int:
    view = _service(config).anchor(Actor(args.actor, "auditor"))
    print(f"anchor {view.seq} at {view.at.isoformat()}: {view.tickets} ticket(s) changed since the last anchor")
    print(f"hash {view.hash} (publish it outside the database to pin the history up to now)")
    return 0


def _export(args: argparse.Namespace, config: EngineConfig) -> int:
    lines = _service(config).export(args.start, args.end, args.fmt)
    count = -1 if args.fmt == "csv" else 0  # the CSV header is not an event
    if args.output is None:
        for line in lines:
            sys.stdout.write(line)
            count += 1
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            for line in lines:
                out.write(line)
                count += 1
        print(f"{args.output}: {max(count, 0)} events written", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace, config: EngineConfig) -> int:
    if args.until is not None and args.until < 1:
        raise InvalidInput("--until must be 1 or more")
    report = _service(config).replay(args.ticket, args.until)
    print(f"{report.number}: replaying on definition v{report.definition_version} "
          f"(sha256 {report.definition_sha256[:12]})")
    for step in report.steps:
        where = " ".join(part for part in (step.element_id, f"[{step.lane}]" if step.lane else "") if part)
        print(f"  {step.seq:>5}  {step.outcome:<8}  {step.kind:<18} {where}")
    if report.consistent:
        print(f"consistent ({report.events} events)")
        return 0
    divergence = report.divergence
    assert divergence is not None
    print(f"divergence at event {divergence.seq}: {divergence.reason}")
    print(f"  recorded: {_compact(divergence.expected)}")
    print(f"  replayed: {_compact(divergence.actual)}")
    return 1


def _compact(value: dict[str, Any] | None) -> str:
    return "(nothing)" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
