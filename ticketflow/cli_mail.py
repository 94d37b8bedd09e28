"""`ticketflow mail ingest`: one received email from standard input, as a mail server pipes it (like Request
Tracker's rt-mailgate or Znuny's PostMaster). The exit code is what the mail server acts on (sysexits.h):
0 accepted (recorded, even if it answers nothing), 65 the message cannot be read (bounce it, do not retry),
75 a temporary failure such as the database being unavailable (keep it and try again later)."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from engine.config import EngineConfig
from engine.errors import Conflict, InvalidInput, TicketflowError
from engine.usecases.base import DATABASE_ERRORS
from engine.usecases.email_in import EmailIntake, IntakeOutcome
from engine.usecases.tickets import AGENT_CHANNELS
from mail.intake import IntakeLimits, Unreadable, read_message
from ticketflow.composition import make_runtime

EX_OK, EX_DATAERR, EX_TEMPFAIL = 0, 65, 75
SAID = {"opened": "opened ticket {number}", "added": "added to the conversation of {number}",
        "internal": "kept on {number} as an internal note for L1 (not from the ticket's customer)",
        "recorded": "recorded (an automatic reply or bounce that matches no ticket)",
        "duplicate": "already recorded (the same Message-ID came before); nothing changed"}
log = logging.getLogger("ticketflow.mail")


def add_commands(commands: Any, command: Any) -> None:
    """Add `mail ingest` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    mail = command(commands, "mail", "email in").add_subparsers(required=True, metavar="ACTION")
    ingest = command(mail, "ingest", "read one RFC 5322 message from standard input into its ticket's conversation "
                                     "(or open a ticket); exit 0 accepted, 65 unreadable, 75 try again later")
    ingest.add_argument("--channel", default="email", choices=AGENT_CHANNELS,
                        help="the channel a new ticket is recorded as having come in by")
    ingest.set_defaults(run=_ingest)


def _ingest(args: argparse.Namespace, config: EngineConfig) -> int:
    try:
        limits = IntakeLimits.from_env()
        mail = read_message(sys.stdin.buffer.read(limits.message + 1), limits, args.channel)
    except Unreadable as refused:
        print(f"refused: {refused.reason}", file=sys.stderr)
        return EX_DATAERR
    try:
        runtime = make_runtime(config)
        outcome = EmailIntake.over(runtime).receive(mail)
    except (*DATABASE_ERRORS, Conflict) as failure:
        log.warning("mail ingest failed for now: %s", failure)
        print("temporary failure: the ticket database is not available; try again later", file=sys.stderr)
        return EX_TEMPFAIL
    except InvalidInput as refused:
        print(f"refused: {refused.detail}", file=sys.stderr)
        return EX_DATAERR
    except TicketflowError as failure:  # e.g. no diagram deployed yet: the operator can fix it, keep the mail
        print(f"temporary failure: {failure.detail}", file=sys.stderr)
        return EX_TEMPFAIL
    print(said(outcome))
    return EX_OK


def said(outcome: IntakeOutcome) -> str:
    """What became of the message, in words."""
    return SAID[outcome.outcome].format(number=outcome.ticket_number)
