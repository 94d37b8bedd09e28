"""`ticketflow archive`: drop the bulky parts of tickets closed longer ago than the retention; never their history."""
from __future__ import annotations

import argparse
import os
from datetime import timedelta
from typing import Any

from engine.config import EngineConfig
from engine.usecases.archive import ArchiveReport, ArchiveService
from ticketflow.composition import make_runtime

RETENTION_SETTING = "TICKETFLOW_ARCHIVE_AFTER_DAYS"
DEFAULT_DAYS = 90
MAX_DAYS = 36500  # a hundred years: anything longer is a typing slip


def add_commands(commands: Any, command: Any) -> None:
    """Add `archive` to ``commands``; ``command(parent, name, help)`` makes the parser."""
    archive = command(commands, "archive", "for tickets closed longer ago than the retention, drop their stored "
                                           "workflow state, finished worklist rows and the HTML copies of "
                                           "delivered messages; their history, conversation and row stay")
    archive.add_argument("--older-than", dest="days", type=days, default=None, metavar="DAYS",
                         help=f"the retention in days (default: {RETENTION_SETTING}, else {DEFAULT_DAYS})")
    archive.add_argument("--dry-run", action="store_true", help="count what would be dropped; change nothing")
    archive.set_defaults(run=_archive)


def days(text: str) -> int:
    """A whole number of days, 0 to MAX_DAYS."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"expected a whole number of days from 0 to {MAX_DAYS}, got {text!r}")
    return int(text)


def retention_days(environ: dict[str, str] | None = None) -> int | None:
    """The retention the setting gives, None when it is not set; a bad value is an error naming the setting."""
    value = (os.environ if environ is None else environ).get(RETENTION_SETTING, "").strip()
    if not value:
        return None
    try:
        return days(value)
    except argparse.ArgumentTypeError as exc:
        raise ValueError(f"{RETENTION_SETTING}: {exc}") from exc


def _archive(args: argparse.Namespace, config: EngineConfig) -> int:
    chosen = args.days if args.days is not None else retention_days()
    retention = DEFAULT_DAYS if chosen is None else chosen
    report = ArchiveService(make_runtime(config)).archive(timedelta(days=retention), dry_run=args.dry_run)
    print(summary(report))
    return 0


def summary(report: ArchiveReport) -> str:
    """What the run did (or would do), in words."""
    verb = "would drop" if report.dry_run else "dropped"
    closed = f"ticket(s) closed before {report.cut_off:%Y-%m-%d %H:%M} UTC"
    if not report.tickets:
        return f"nothing to archive: none of the {closed} holds anything to drop"
    return (f"{report.tickets} {closed}: {verb} {report.workflows} stored workflow state(s), "
            f"{report.worklist_rows} finished worklist row(s) and the outbox copy of {report.message_copies} "
            "delivered message(s); their history is kept" + (" (dry run: nothing changed)" if report.dry_run else ""))
