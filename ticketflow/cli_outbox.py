"""`ticketflow outbox list | show | retry`: the operator's view of the messages to customers."""
from __future__ import annotations

import argparse
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.usecases.outbox_admin import STATES, MessageView, OutboxAdmin
from ticketflow.composition import make_runtime


def add_commands(commands: Any, command: Any) -> None:
    """Add `outbox list|show|retry` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    outbox = command(commands, "outbox", "messages to customers: what they say, their delivery state, "
                                         "retries").add_subparsers(required=True, metavar="ACTION")
    listing = command(outbox, "list", "the newest messages first")
    listing.add_argument("--state", choices=STATES, help="only messages in this state")
    listing.add_argument("--limit", type=_count, default=50, help="at most this many")
    listing.set_defaults(run=_list)
    show = command(outbox, "show", "one message: headers, text, state, attempts and the last error")
    show.add_argument("id", type=_count, help="the message's number, as `outbox list` shows it")
    show.set_defaults(run=_show)
    retry = command(outbox, "retry", "send a held, dead or waiting message now (recorded in the ticket's history)")
    retry.add_argument("id", type=_count, help="the message's number, as `outbox list` shows it")
    retry.add_argument("--as", dest="actor", default="admin", help="who retries (recorded)")
    retry.set_defaults(run=_retry)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 10**12:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return int(text)


def _admin(config: EngineConfig) -> OutboxAdmin:
    return OutboxAdmin(make_runtime(config))


def _list(args: argparse.Namespace, config: EngineConfig) -> int:
    messages, total = _admin(config).list_messages(Actor("admin", "admin"), args.state, args.limit)
    for message in messages:
        print(f"{message.id:>6}  {message.state:<9} {message.ticket or '-':<9} {message.purpose:<18} "
              f"{message.attempts:>2} attempt(s)  {message.recipient}  {message.subject}")
    which = f" {args.state}" if args.state else ""
    print(f"{len(messages)} of {total}{which} message(s) shown")
    return 0


def _show(args: argparse.Namespace, config: EngineConfig) -> int:
    _print(_admin(config).message(Actor("admin", "admin"), args.id))
    return 0


def _retry(args: argparse.Namespace, config: EngineConfig) -> int:
    message = _admin(config).retry(Actor(args.actor, "admin"), args.id)
    print(f"message {message.id} to {message.recipient} is due now; the worker sends it in its next round")
    return 0


def _print(message: MessageView) -> None:
    sent = f", delivered {message.sent_at.isoformat()}" if message.sent_at else ""
    print(f"message {message.id} ({message.purpose}) for ticket {message.ticket or '-'}: {message.state}, "
          f"{message.attempts} attempt(s){sent}")
    if message.state == "pending":
        print(f"next attempt: {message.next_attempt_at.isoformat()}")
    if message.last_error:
        print(f"last error: {message.last_error}")
    if message.delivery_response:
        print(f"server's answer: {message.delivery_response}")
    print(f"Message-ID: {message.message_id}")
    if message.in_reply_to:
        print(f"In-Reply-To: {message.in_reply_to}")
    print(f"To: {message.recipient}\nSubject: {message.subject}\n\n{message.text}")
