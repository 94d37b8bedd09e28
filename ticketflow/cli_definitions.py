"""`ticketflow definitions list | activate | diff` and `ticketflow migrate`: versions, the active one, what changed,
and moving running tickets between versions."""
from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.usecases.migrations import MigrationRequest, Migrations, TicketMove
from ticketflow.composition import make_runtime


def add_commands(commands: Any, command: Any) -> None:
    """Add `definitions list|activate` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    definitions = command(commands, "definitions", "deployed diagram versions and the active one").add_subparsers(
        required=True, metavar="ACTION")
    listing = command(definitions, "list", "every deployed version, newest first; * marks the active one")
    listing.set_defaults(run=_list)
    activate = command(definitions, "activate", "make a deployed version the one new tickets start on")
    activate.add_argument("key", help="the process key (the diagram's process id), e.g. support_ticket")
    activate.add_argument("version", type=int, help="the version number, as `definitions list` shows it")
    activate.add_argument("--as", dest="actor", default="process-owner", help="who activates (recorded)")
    activate.set_defaults(run=_activate)
    diff = command(definitions, "diff", "what changed between two versions, in words")
    diff.add_argument("key", help="the process key, e.g. support_ticket")
    diff.add_argument("before", type=int, help="the earlier version")
    diff.add_argument("after", type=int, help="the later version")
    diff.set_defaults(run=_diff)
    _migrate_command(commands, command)


def _migrate_command(commands: Any, command: Any) -> None:
    migrate = command(commands, "migrate", "move running tickets from one version of a process to another")
    migrate.add_argument("key", help="the process key, e.g. support_ticket")
    migrate.add_argument("--from", dest="source", type=int, required=True, help="the version the tickets are on")
    migrate.add_argument("--to", dest="target", type=int, required=True, help="the version to move them to")
    which = migrate.add_mutually_exclusive_group(required=True)
    which.add_argument("--ticket", dest="tickets", action="append", metavar="NUMBER", help="a ticket (repeatable)")
    which.add_argument("--all", action="store_true", help="every open ticket on the --from version")
    migrate.add_argument("--map", dest="mapping", action="append", default=[], metavar="OLD=NEW",
                         help="where a ticket at element OLD goes in the new version (repeatable)")
    migrate.add_argument("--dry-run", action="store_true", help="say per ticket whether it can move; change nothing")
    migrate.add_argument("--as", dest="actor", default="process-owner", help="who migrates (recorded)")
    migrate.set_defaults(run=_migrate)


def _list(args: argparse.Namespace, config: EngineConfig) -> int:
    runtime = make_runtime(config)
    active = runtime.active_versions()
    rows = runtime.list_definitions()
    if not rows:
        print("no diagram is deployed yet: ticketflow deploy bpmn/support_ticket.bpmn")
    for row in rows:
        mark = "*" if active.get(row.key) == row.version else " "
        print(f"{mark} {row.key} v{row.version}  deployed {row.deployed_at:%Y-%m-%d %H:%M} UTC by {row.deployed_by}"
              f"  sha256 {row.sha256[:12]}")
    return 0


def _activate(args: argparse.Namespace, config: EngineConfig) -> int:
    row, changed = make_runtime(config).activate(args.key, args.version, Actor(args.actor, "process_owner"))
    state = "is now active: new tickets start on it" if changed else "was already active; nothing changed"
    print(f"{row.key} v{row.version} {state}. Running tickets stay on the version they started on.")
    return 0


def _diff(args: argparse.Namespace, config: EngineConfig) -> int:
    changes = make_runtime(config).diff_versions(args.key, args.before, args.after)
    print(f"{args.key}: v{args.before} -> v{args.after}: "
          + (f"{len(changes)} change(s)" if changes else "no change to the process or its forms"))
    for change in changes:
        print(f"  {change.sentence}")
    return 0


def _migrate(args: argparse.Namespace, config: EngineConfig) -> int:
    mapping = dict(_pair(item) for item in args.mapping)
    request = MigrationRequest(args.key, args.source, args.target, tuple(args.tickets or ()), mapping, args.dry_run)
    counts: Counter[str] = Counter()

    def report(move: TicketMove) -> None:
        counts[move.outcome] += 1
        where = f" at {', '.join(move.standing)}" if move.standing else ""
        print(f"{move.number}{where}: {_OUTCOMES[move.outcome]}" + (f" ({move.reason})" if move.reason else ""),
              flush=True)

    try:
        Migrations(make_runtime(config)).run(request, Actor(args.actor, "process_owner"), progress=report)
    except KeyboardInterrupt:
        print(f"interrupted after {sum(counts.values())} ticket(s); the same command continues with the rest")
        return 130
    print(", ".join(f"{n} {_OUTCOMES[o]}" for o, n in sorted(counts.items())) or "no open ticket is on "
          f"{args.key} v{args.source}")
    return 1 if counts["refused"] else 0


_OUTCOMES = {"moved": "moved", "movable": "can move", "refused": "cannot move", "skipped": "skipped"}


def _pair(item: str) -> tuple[str, str]:
    old, sep, new = item.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ValueError(f"--map takes OLD=NEW element ids, got {item!r}")
    return old.strip(), new.strip()


def deploy_summary(file: str, key: str, version: int, created: bool, active: int | None) -> str:
    """What `ticketflow deploy` says: the new version and whether it is active, or how to activate the identical
    older version it matched."""
    if created and active == version:
        return f"{file}: deployed as {key} v{version}, now active"
    if created:
        return (f"{file}: deployed as {key} v{version}, not active (v{active} is); to start new tickets on it: "
                f"ticketflow definitions activate {key} {version}")
    if active == version:
        return f"{file}: unchanged: identical to {key} v{version}, which is already active"
    return (f"{file}: unchanged: identical to {key} v{version} (active is v{active}); to start new tickets on it "
            f"again: ticketflow definitions activate {key} {version}")
