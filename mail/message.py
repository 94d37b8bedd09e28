"""One outbox message as an RFC 5322 email: multipart/alternative (text, then HTML), threaded under the
ticket's first message, marked as automatic (RFC 3834), built with the standard library."""
from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from engine.store.outbox import OutboxItem
from engine.usecases.outbox import DeliveryError

# One plain addr-spec: what a ticket's contact email must be for a message to go out (no display name,
# no list, no line break: nothing that could add a header or a recipient).
ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
SMTP = policy.SMTP  # CRLF line ends, headers folded at 78


# An agent's reply is a person writing, not an automated message: RFC 3834 leaves it unmarked.
WRITTEN_BY_PEOPLE = frozenset({"agent_reply"})


def recipient_of(item: OutboxItem) -> str:
    """The message's one recipient address; a permanent DeliveryError when it is not a plain email address."""
    if not ADDRESS.fullmatch(item.recipient):
        raise DeliveryError("the ticket has no usable email address to write to (the contact is "
                            f"'{item.recipient[:100]}')", permanent=True)
    return item.recipient


def build_email(item: OutboxItem, sender: str) -> EmailMessage:
    """The email for ``item`` from ``sender``; its Date is when it was composed, so every attempt is the same."""
    if any(c in text for text in (item.subject, sender) for c in "\r\n"):
        raise DeliveryError("the subject or the sender spans several lines; refused", permanent=True)
    message = EmailMessage(policy=SMTP)
    message["Message-ID"] = _message_id(item.message_id)
    message["Date"] = format_datetime(item.created_at)
    message["From"] = sender
    message["To"] = recipient_of(item)
    message["Subject"] = item.subject
    if item.in_reply_to and item.in_reply_to != item.message_id:
        message["In-Reply-To"] = _message_id(item.in_reply_to)
        message["References"] = _message_id(item.in_reply_to)
    if item.purpose not in WRITTEN_BY_PEOPLE:
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer it
    message.set_content(item.body, cte="quoted-printable")
    if item.html:
        message.add_alternative(item.html, subtype="html", cte="quoted-printable")
    return message


def _message_id(value: str) -> str:
    if not MESSAGE_ID.fullmatch(value):
        raise DeliveryError(f"the stored Message-ID {value[:100]!r} is malformed", permanent=True)
    return value
