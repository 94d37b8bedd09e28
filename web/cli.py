"""The `ticketflow` command line: a composition root over the engine."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.access import Actor
from engine.config import EngineConfig
from engine.definitions import DefinitionLoader, read_bundle
from engine.errors import TicketflowError
from engine.store.db import upgrade

from .composition import make_runtime
from .knowledge import import_kb_file


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    config = EngineConfig.from_env()
    try:
        return int(args.run(args, config) or 0)
    except TicketflowError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketflow", description="Run the support procedure as a BPMN process.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    db = commands.add_parser("db", help="database schema").add_subparsers(required=True, metavar="ACTION")
    db.add_parser("upgrade", help="apply the migrations to TICKETFLOW_DATABASE_URL").set_defaults(run=_db_upgrade)
    deploy = commands.add_parser("deploy", help="lint and record a new version of a diagram")
    deploy.add_argument("file", type=Path)
    deploy.add_argument("--as", dest="actor", default="process-owner", help="who deploys (recorded)")
    deploy.set_defaults(run=_deploy)
    check = commands.add_parser("check-bpmn", help="lint a diagram and its forms without deploying")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_check)
    kb = commands.add_parser("kb", help="knowledge base").add_subparsers(required=True, metavar="ACTION")
    kb_import = kb.add_parser("import", help="load articles from a JSON file (upsert by slug)")
    kb_import.add_argument("file", type=Path)
    kb_import.set_defaults(run=_kb_import)
    commands.add_parser("demo", help="play tickets through every path and print their trails").set_defaults(
        run=_demo)
    worker = commands.add_parser("worker", help="fire due timers and retry stalled tickets, forever")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    worker.add_argument("--once", action="store_true", help="run one round and exit")
    worker.set_defaults(run=_worker)
    return parser


def _db_upgrade(args: argparse.Namespace, config: EngineConfig) -> int:
    upgrade(config.database_url)
    print(f"database at {config.database_url} is up to date")
    return 0


def _deploy(args: argparse.Namespace, config: EngineConfig) -> int:
    runtime = make_runtime(config)
    bpmn, forms = read_bundle(args.file)
    row, created = runtime.deploy(bpmn, forms, Actor(args.actor, "process_owner"))
    state = "deployed as" if created else "unchanged: already deployed as"
    print(f"{args.file}: {state} {row.key} v{row.version} (sha256 {row.sha256[:12]})")
    return 0


def _check(args: argparse.Namespace, config: EngineConfig) -> int:
    from tasks import build_registry

    bpmn, forms = read_bundle(args.file)
    problems = DefinitionLoader(list(build_registry()), config.lane_roles).check(bpmn, forms)
    for problem in problems:
        print(f"{args.file}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.file}: OK ({len(forms)} form files)")
    return 1 if problems else 0


def _kb_import(args: argparse.Namespace, config: EngineConfig) -> int:
    created, updated = import_kb_file(make_runtime(config), args.file)
    print(f"{args.file}: {created} articles added, {updated} updated")
    return 0


def _demo(args: argparse.Namespace, config: EngineConfig) -> int:
    from .demo import run_demo

    run_demo(config)
    return 0


def _worker(args: argparse.Namespace, config: EngineConfig) -> int:
    runtime = make_runtime(config)
    while True:
        advanced = runtime.fire_due_timers()
        if advanced:
            print(f"advanced {len(advanced)} ticket(s): {', '.join(advanced)}", flush=True)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
