"""The `ticketflow` command line: a composition root over the engine."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, cast

from engine.access import ROLES, Actor
from engine.config import EngineConfig
from engine.errors import TicketflowError
from engine.process.definitions import DefinitionLoader, read_bundle
from engine.store.db import current_revision, make_engine, session_factory, upgrade
from engine.usecases.knowledge import import_kb_file
from engine.usecases.users import Directory
from ticketflow.cli_archive import add_commands as add_archive_commands
from ticketflow.cli_audit import add_commands as add_audit_commands
from ticketflow.cli_channels import add_commands as add_channel_commands
from ticketflow.cli_definitions import add_commands as add_definition_commands
from ticketflow.cli_definitions import deploy_summary
from ticketflow.cli_mail import add_commands as add_mail_commands
from ticketflow.cli_outbox import add_commands as add_outbox_commands
from ticketflow.cli_units import add_commands as add_unit_commands
from ticketflow.cli_webhooks import add_commands as add_webhook_commands
from ticketflow.composition import make_runtime
from ticketflow.demo import DEMO_DATABASE_URL


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    config = EngineConfig.from_env()
    try:
        return int(args.run(args, config) or 0)
    except TicketflowError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        for problem in getattr(exc, "errors", []):  # InvalidInput: say which field and why
            print(f"  {problem.pointer.lstrip('/') or 'input'}: {problem.message}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


class _Help(argparse.HelpFormatter):
    """Shows an option's default after its help text, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketflow", description="Run the support procedure as a BPMN process.",
                                     formatter_class=_Help)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(parent: Any, name: str, help: str) -> argparse.ArgumentParser:
        made = parent.add_parser(name, help=help, description=help, formatter_class=_Help)
        return cast(argparse.ArgumentParser, made)

    db = command(commands, "db", "database schema").add_subparsers(required=True, metavar="ACTION")
    command(db, "upgrade", "apply the migrations to TICKETFLOW_DATABASE_URL and say which").set_defaults(
        run=_db_upgrade)
    deploy = command(commands, "deploy", "lint a diagram and record it as a new version")
    deploy.add_argument("file", type=Path, help="the .bpmn file; its forms are read from forms/ beside it")
    deploy.add_argument("--as", dest="actor", default="process-owner", help="who deploys (recorded)")
    deploy.add_argument("--inactive", action="store_true",
                        help="deploy without activating: new tickets keep starting on the active version")
    deploy.set_defaults(run=_deploy)
    check = command(commands, "check-bpmn", "lint a diagram and its forms without deploying")
    check.add_argument("file", type=Path, help="the .bpmn file; its forms are read from forms/ beside it")
    check.set_defaults(run=_check)
    kb = command(commands, "kb", "knowledge base").add_subparsers(required=True, metavar="ACTION")
    kb_import = command(kb, "import", "load articles from a JSON file (upsert by slug)")
    kb_import.add_argument("file", type=Path, help="a JSON list of articles, as ticketflow/data/demo_kb.json")
    kb_import.set_defaults(run=_kb_import)
    demo = command(commands, "demo", "play tickets through every path in a database of their own and print "
                                     "their trails")
    demo.add_argument("--database", default=DEMO_DATABASE_URL,
                      help="where the demo plays (made afresh each run; never the database `serve` uses)")
    demo.set_defaults(run=_demo)
    _user_commands(command, commands)
    serve = command(commands, "serve", "serve the web app and API, with the worker in-process")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless you say so)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port")
    serve.add_argument("--no-worker", action="store_true", help="do not fire timers in this process")
    serve.add_argument("--demo-users", action="store_true",
                       help="create one user per role once, issue them fresh tokens and print them")
    serve.set_defaults(run=_serve)
    worker = command(commands, "worker", "fire due timers, retry stalled tickets and anchor the history, forever")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    worker.add_argument("--once", action="store_true", help="run one round, say what it did, and exit")
    worker.set_defaults(run=_worker)
    add_audit_commands(commands, command)
    add_archive_commands(commands, command)
    add_outbox_commands(commands, command)
    add_mail_commands(commands, command)
    add_channel_commands(commands, command)
    add_definition_commands(commands, command)
    add_webhook_commands(commands, command)
    add_unit_commands(commands, command)
    return parser


def _user_commands(command: Any, commands: Any) -> None:
    user = command(commands, "user", "users and API tokens").add_subparsers(required=True, metavar="ACTION")
    user_add = command(user, "add", "create a user and print their API token (shown once)")
    user_add.add_argument("name", help="the user's sign-in name (recorded as the actor of what they do)")
    user_add.add_argument("--role", required=True, choices=ROLES, help="what the user may do")
    user_add.add_argument("--email", help="the user's email address")
    user_add.add_argument("--unit", help="the support unit the user belongs to")
    user_add.set_defaults(run=_user_add)
    user_token = command(user, "token", "issue a new API token for a user, revoking the old one")
    user_token.add_argument("name", help="the user's sign-in name")
    user_token.set_defaults(run=_user_token)


def _db_upgrade(args: argparse.Namespace, config: EngineConfig) -> int:
    applied = upgrade(config.database_url)
    for migration in applied:
        print(f"applied {migration}")
    state = "is now up to date" if applied else "was already up to date; nothing to apply"
    print(f"database at {config.database_url} {state} (at migration {current_revision(config.database_url)})")
    return 0


def _deploy(args: argparse.Namespace, config: EngineConfig) -> int:
    runtime = make_runtime(config)
    bpmn, forms = read_bundle(args.file)
    # Like the API: form files the diagram names but forms/ lacks come from the latest version.
    row, created = runtime.deploy_upload(bpmn, forms, Actor(args.actor, "process_owner"), activate=not args.inactive)
    print(deploy_summary(str(args.file), row.key, row.version, created, runtime.active_versions().get(row.key)))
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

    run_demo(EngineConfig(args.database, config.lane_roles))
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
    from ticketflow.composition import EMAIL_HELD, make_delivery
    from ticketflow.serve import ensure_demo_users, serve

    runtime = make_runtime(config)
    delivery = make_delivery(runtime)
    if delivery.holds_email:
        print(EMAIL_HELD)  # first, so that `make run` says it before anything else
    if args.demo_users:
        print("Demo users (sign in at /sign-in with a token, or send it as 'Authorization: Bearer <token>'):")
        for name, role, token in ensure_demo_users(Directory(runtime.sessions, runtime.clock)):
            print(f"  {role:<14} {name:<6} {token}")
    serve(runtime, args.host, args.port, None if args.no_worker else 5.0, delivery=delivery, held_said=True)
    return 0


def _worker(args: argparse.Namespace, config: EngineConfig) -> int:
    from ticketflow.heap import settle_after_start_up
    from ticketflow.logs import configure_logging
    from ticketflow.worker import run_worker

    configure_logging()  # JSON lines unless TICKETFLOW_LOG_FORMAT=text
    # --once answers the person who ran it; a running worker's rounds are log lines like the rest.
    report = (lambda line: print(line, flush=True)) if args.once else logging.getLogger("ticketflow.worker").info
    runtime = make_runtime(config)
    if not args.once:
        settle_after_start_up()  # it runs for days
    return run_worker(runtime, args.interval, args.once, report)


if __name__ == "__main__":
    sys.exit(main())
