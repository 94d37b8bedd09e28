"""Answer links: the customer answers the validation question from the email, without signing in.

Each link is a token signed with itsdangerous (HMAC-SHA256 under the installation's secret key, a salt of its
own) naming the ticket, the validation round (the n-th validation request the ticket was sent) and the answer,
with its expiry inside: the answer's due time plus ``GRACE`` (30 days). Every reminder sends fresh links of the
same round, so a customer who answers late still can. The token names no task: the customer's task is resolved
when the link is used, so a link of an earlier round (superseded by a new fix), one whose task is done (answered,
once) or one past its expiry changes nothing. Opening a link only shows the question; the answer is the POST of
that page, which carries a proof derived from the token (the page has no session), and it goes through the same
use case as the portal: ``complete_task`` as the ticket's customer.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, Signer, URLSafeSerializer

from engine.access import Actor
from engine.errors import Conflict, NotFound, TicketflowError
from engine.store.history import Journal, Where
from engine.store.tickets import TicketRecord, TicketStore, WorkItem
from engine.views import TicketView

from .tasks import TaskUseCases

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
GRACE = timedelta(days=30)  # how long past the answer's due time a link still works
ANSWERS = ("resolved", "persists")
LONGEST_TOKEN = 400  # a real token is about 130 characters; longer input is not worth decoding
LINK_SALT = "ticketflow.answer-link"
FORM_SALT = "ticketflow.answer-form"
SAVE_TRIES = 3


class LinkRefused(TicketflowError):
    """A link that answers nothing: ``reason`` is invalid, expired, superseded or answered."""

    title = "Link not usable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"answer link refused: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: this ticket's round ``validation_round`` is answered ``answer``."""

    ticket_number: str
    validation_round: int
    answer: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkQuestion:
    """What the answer page shows and acts on: the question of a still-open round."""

    claim: LinkClaim
    ticket_subject: str
    task: WorkItem
    customer: str


class AnswerLinkSigner:
    """Signs and reads answer links (``engine.execution.services.AnswerLinkMaker``); the secret is read
    when first needed, so commands that never write or read a link do not need it."""

    def __init__(self, secret: str | Callable[[], str], base_url: str = DEFAULT_BASE_URL) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._signers: tuple[URLSafeSerializer, Signer] | None = None

    def _parts(self) -> tuple[URLSafeSerializer, Signer]:
        if self._signers is None:
            secret = self._secret() if callable(self._secret) else self._secret
            if not secret:
                raise LookupError("answer links need a secret key (TICKETFLOW_SECRET_KEY)")
            self._signers = (URLSafeSerializer(secret, salt=LINK_SALT, signer_kwargs={"digest_method": hashlib.sha256}),
                             Signer(secret, salt=FORM_SALT, digest_method=hashlib.sha256))
        return self._signers

    def token(self, ticket_number: str, validation_round: int, answer: str, expires_at: datetime) -> str:
        """The signed token of one answer."""
        payload = [ticket_number, validation_round, answer, int(expires_at.timestamp())]
        return str(self._parts()[0].dumps(payload))

    def answer_urls(self, ticket_number: str, validation_round: int, respond_by: datetime) -> dict[str, str]:
        """``resolved_url`` and ``persists_url`` of this round, working until ``GRACE`` past ``respond_by``."""
        expires_at = respond_by + GRACE
        tokens = {answer: self.token(ticket_number, validation_round, answer, expires_at) for answer in ANSWERS}
        return {f"{answer}_url": f"{self.base_url}/answer/{token}" for answer, token in tokens.items()}

    def read(self, token: str) -> LinkClaim:
        """The claim of a token this installation signed, else LinkRefused("invalid")."""
        serializer = self._parts()[0]
        try:
            payload: Any = serializer.loads(token) if len(token) <= LONGEST_TOKEN else None
        except (BadData, ValueError, TypeError):
            payload = None
        # Base64 ignores a final character's spare bits: only the exact token we would write counts.
        if not _well_formed(payload) or serializer.dumps(payload) != token:
            raise LinkRefused("invalid")
        number, validation_round, answer, expires = payload
        return LinkClaim(number, validation_round, answer, datetime.fromtimestamp(expires, UTC))

    def form_proof(self, token: str) -> str:
        """The value the answer page's form carries: only a page we rendered for this token has it."""
        return self._parts()[1].get_signature(token).decode()

    def proof_holds(self, token: str, proof: str) -> bool:
        """True when ``proof`` is this token's form proof."""
        try:
            return self._parts()[1].verify_signature(token, proof)
        except (BadData, ValueError):
            return False


def _well_formed(payload: Any) -> bool:
    if not isinstance(payload, list) or len(payload) != 4:
        return False
    number, validation_round, answer, expires = payload
    return (isinstance(number, str) and type(validation_round) is int and validation_round >= 1
            and answer in ANSWERS and type(expires) is int)


class AnswerLinks:
    """The answer page's use cases: show the question of a link, and answer it once."""

    def __init__(self, runtime: TaskUseCases) -> None:
        if not isinstance(runtime.links, AnswerLinkSigner):
            raise LookupError("answer links are not configured for this runtime")
        self.runtime = runtime
        self.signer: AnswerLinkSigner = runtime.links

    def question(self, token: str) -> LinkQuestion:
        """The still-open question a link answers, else LinkRefused saying why."""
        claim = self.signer.read(token)
        if self.runtime.clock() >= claim.expires_at:
            raise LinkRefused("expired")
        with self.runtime.uow(read_only=True) as uow:
            store = TicketStore(uow.connection)
            ticket = store.ticket_by_number(claim.ticket_number)
            if ticket is None:
                raise LinkRefused("invalid")
            current = store.count_messages(ticket.id, "validation_request")
            if claim.validation_round != current:
                raise LinkRefused("superseded" if claim.validation_round < current else "invalid")
            task = self._customer_task(store, ticket)
        return LinkQuestion(claim, ticket.subject, task, ticket.customer)

    def _customer_task(self, store: TicketStore, ticket: TicketRecord) -> WorkItem:
        lanes = {lane for lane, role in self.runtime.lane_roles.items() if role == "customer"}
        ready = [task for task in store.ready_tasks(ticket.id) if task.lane in lanes]
        if not ready:
            raise LinkRefused("answered")
        return ready[0]

    def answer(self, token: str, proof: str, comment: str = "") -> TicketView:
        """Answer the link's question as the ticket's customer, through ``complete_task``; LinkRefused when
        the proof is wrong ("forged") or the question is no longer open, including a concurrent answer's loser."""
        if not self.signer.proof_holds(token, proof):
            raise LinkRefused("forged")
        asked = self.question(token)
        data: dict[str, Any] = {"validation_outcome": asked.claim.answer}
        if asked.claim.answer == "persists" and comment.strip():
            data["customer_comment"] = comment.replace("\r\n", "\n").strip()
        try:
            ticket = self.runtime.complete_task(asked.task.id, data, Actor(asked.customer, "customer"))
        except (Conflict, NotFound):
            raise LinkRefused("answered") from None  # another click got there first, or the task is gone
        self._record_link_use(asked)
        return ticket

    def _record_link_use(self, asked: LinkQuestion) -> None:
        """Note in the history that the customer's answer came by link: a recorded-only event (the replay steps
        over it), in its own short transaction right after the answer's."""
        task = asked.task
        data = {"answered_by_link": True, "answer": asked.claim.answer, "round": asked.claim.validation_round}
        for _ in range(SAVE_TRIES):  # a timer firing in between moves the version: read again and append
            with self.runtime.uow() as uow:
                store = TicketStore(uow.connection)
                ticket = store.ticket_by_number(asked.claim.ticket_number)
                if ticket is None:
                    return
                journal = Journal(ticket)
                journal.record("answer_link_used", asked.customer, self.runtime.clock(), data,
                               Where(task.element_id, task.name, task.lane, task.id))
                seen = ticket.version
                try:
                    store.save(ticket, journal.take())
                except Conflict:
                    continue
                uow.commit()
            self.runtime.workflows.moved(ticket.id, seen, ticket.version)
            return
        log.warning("ticket %s was answered by link, but the note saying so could not be saved",
                    asked.claim.ticket_number)
