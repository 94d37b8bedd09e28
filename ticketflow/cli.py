"""The `ticketflow` command line: a composition root over the engine."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.access import ROLES, Actor
from engine.config import EngineConfig
from engine.process.definitions import DefinitionLoader, read_bundle
from engine.errors import TicketflowError
from engine.store.db import make_engine, session_factory, upgrade
from engine.usecases.users import Directory

from ticketflow.cli_audit import add_commands as add_audit_commands
from ticketflow.composition import make_runtime
from engine.usecases.knowledge import import_kb_file


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
    user = commands.add_parser("user", help="users and API tokens").add_subparsers(required=True, metavar="ACTION")
    user_add = user.add_parser("add", help="create a user and print their API token (shown once)")
    user_add.add_argument("name")
    user_add.add_argument("--role", required=True, choices=ROLES)
    user_add.add_argument("--email")
    user_add.add_argument("--unit")
    user_add.set_defaults(run=_user_add)
    user_token = user.add_parser("token", help="issue a new API token for a user, revoking the old one")
    user_token.add_argument("name")
    user_token.set_defaults(run=_user_token)
    serve = commands.add_parser("serve", help="serve the web app and API, with the timer worker in-process")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-worker", action="store_true", help="do not fire timers in this process")
    serve.add_argument("--demo-users", action="store_true",
                       help="create one user per role once, issue them fresh tokens and print them")
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="fire due timers and retry stalled tickets, forever")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    worker.add_argument("--once", action="store_true", help="run one round and exit")
    worker.set_defaults(run=_worker)
    add_audit_commands(commands)
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
    from ticketflow.demo import run_demo

    run_demo(config)
    return 0


def _directory(config: EngineConfig) -> Directory:
    return Directory(session_factory(make_engine(config.database_url)))


def _user_add(args: argparse.Namespace, config: EngineConfig) -> int:
    user, token = _directory(config).add_user(args.name, args.role, args.email, args.unit)
    print(f"user {user.name} ({user.role}) created; API token (shown once, keep it safe):\n{token}")
    return 0


def _user_token(args: argparse.Namespace, config: EngineConfig) -> int:
    token = _directory(config).issue_token(args.name)
    print(f"new API token for {args.name} (earlier tokens no longer work):\n{token}")
    return 0


def _serve(args: argparse.Namespace, config: EngineConfig) -> int:
    from ticketflow.serve import ensure_demo_users, serve

    runtime = make_runtime(config)
    if args.demo_users:
        print("Demo users (sign in at /sign-in with a token, or send it as 'Authorization: Bearer <token>'):")
        for name, role, token in ensure_demo_users(Directory(runtime.sessions, runtime.clock)):
            print(f"  {role:<14} {name:<6} {token}")
    serve(runtime, args.host, args.port, None if args.no_worker else 5.0)
    return 0


def _worker(args: argparse.Namespace, config: EngineConfig) -> int:
    from ticketflow.serve import worker_round

    runtime = make_runtime(config)
    while True:
        worker_round(runtime, lambda line: print(line, flush=True))
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
