"""Reading one received email (RFC 5322, as a mail server pipes it) into what the engine records.

Parsed with the standard ``email`` package (``policy.default``). What cannot be read is refused whole, with
the reason in words (``Unreadable``; the CLI answers the mail server 65, EX_DATAERR) and nothing is stored: a
message over the size limit, more parts than ``MAX_PARTS``, a broken MIME structure (a missing or unclosed
boundary), a text in an unknown character set, no sender address. Attachments over their limits are not: the
message is kept and the files beyond the limits are dropped, with a note saying which and why.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from email import errors, policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.utils import getaddresses

from engine.store.conversation import NewAttachment
from engine.usecases.email_in import EmailIntake, InboundEmail, IntakeOutcome, UnreadableEmail
from engine.usecases.tickets import DeliveryKey
from mail.attachments import detected_type, safe_filename
from mail.text import html_to_text, shown_text

MAX_PARTS = 100
MESSAGE_ID = re.compile(r"<[^<>\s@]{1,200}@[^<>\s@]{1,200}>")
TICKET_NUMBER = re.compile(r"\[(T-\d{6,12})\]")
MAX_REFERENCES = 50
# Structure defects that mean the message did not arrive whole or was never well formed.
BROKEN = (errors.StartBoundaryNotFoundDefect, errors.CloseBoundaryNotFoundDefect, errors.NoBoundaryInMultipartDefect,
          errors.MultipartInvariantViolationDefect, errors.MissingHeaderBodySeparatorDefect)
AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list"}
MIB = 1024 * 1024


class Unreadable(Exception):
    """A message that cannot be read; ``reason`` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IntakeLimits:
    """Sizes in bytes: a whole message, one attachment, and all of one message's attachments together."""

    message: int = 25 * MIB
    attachment: int = 10 * MIB
    attachments: int = 20 * MIB

    @classmethod
    def from_env(cls) -> IntakeLimits:
        """TICKETFLOW_MAX_MESSAGE, TICKETFLOW_MAX_ATTACHMENT and TICKETFLOW_MAX_ATTACHMENTS (bytes)."""
        return cls(_bytes("TICKETFLOW_MAX_MESSAGE", cls.message), _bytes("TICKETFLOW_MAX_ATTACHMENT", cls.attachment),
                   _bytes("TICKETFLOW_MAX_ATTACHMENTS", cls.attachments))


def _bytes(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of bytes, 1 or more (got {raw!r})")
    return int(raw)


def read_message(raw: bytes, limits: IntakeLimits = IntakeLimits(), channel: str = "email") -> InboundEmail:
    """The message in ``raw`` as the engine records it; Unreadable when it cannot be read."""
    if len(raw) > limits.message:
        raise Unreadable(f"the message is larger than {limits.message // 1024} KiB; it was not accepted")
    if not raw.strip():
        raise Unreadable("the message is empty")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    parts = list(message.walk())
    if len(parts) > MAX_PARTS:
        raise Unreadable(f"the message has {len(parts)} parts; at most {MAX_PARTS} are accepted")
    if any(isinstance(defect, BROKEN) for part in parts for defect in part.defects):
        raise Unreadable("the message's MIME structure is broken or truncated (a part boundary is missing)")
    address, name = sender(message)
    subject = clean(_header(message, "Subject"))
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = clean(text_of(body_part)) if body_part is not None else ""
    files, note = attachments(parts, body_part, limits)
    number = TICKET_NUMBER.search(subject)
    return InboundEmail(message_id=message_id(message, raw), from_address=address, from_name=name,
                        subject=" ".join(subject.split()), body=body, shown=shown_text(body) if body else "",
                        references=references(message), ticket_number=number.group(1) if number else None,
                        auto_reply=is_automatic(message), attachments=tuple(files), note=note, channel=channel)


def clean(text: str) -> str:
    """Text that any database stores: undecodable header bytes read as UTF-8 (or replaced), no NULs."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", "")


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError, LookupError):  # a header the parser cannot make sense of
        return ""
    return str(value) if value is not None else ""


def sender(message: EmailMessage) -> tuple[str, str]:
    """(address, display name) of the From header; Unreadable without one usable address."""
    found = [(name, addr) for name, addr in getaddresses([_header(message, "From")]) if "@" in addr]
    if len(found) != 1 or any(c in found[0][1] for c in "\r\n <>,;"):
        raise Unreadable("the message has no single sender address (From) to answer")
    name, address = found[0]
    return clean(address.strip()), clean(" ".join(name.split()))


def message_id(message: Message, raw: bytes) -> str:
    """The message's Message-ID; one made from its bytes when it has none (so a second copy is still one)."""
    found = MESSAGE_ID.search(_header(message, "Message-ID"))
    return found.group(0) if found else f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.invalid>"


def references(message: Message) -> tuple[str, ...]:
    """The Message-IDs this message answers, the most direct first (In-Reply-To, then References backwards)."""
    replied = MESSAGE_ID.findall(_header(message, "In-Reply-To"))
    chain = list(reversed(MESSAGE_ID.findall(_header(message, "References"))))
    unique = list(dict.fromkeys(replied + chain))
    return tuple(unique[:MAX_REFERENCES])


def is_automatic(message: EmailMessage) -> bool:
    """An auto-reply or a bounce (RFC 3834 ``Auto-Submitted``, ``Precedence``, ``X-Autoreply``, delivery reports,
    an empty return path): recorded, never answered, never a new ticket."""
    submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        return True
    if _header(message, "Precedence").strip().lower() in AUTOMATIC_PRECEDENCE:
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    if message.get_content_type() == "multipart/report":
        return True
    return message.get("Return-Path") is not None and _header(message, "Return-Path").strip() in ("<>", "")


def text_of(part: MIMEPart) -> str:
    """The words of a text part (HTML turned into text); Unreadable for a character set we do not know."""
    try:
        content = part.get_content()
    except LookupError:
        raise Unreadable(f"the message's text is in a character set we cannot read "
                         f"({part.get_content_charset() or 'unknown'})") from None
    except (ValueError, AssertionError, UnicodeError) as exc:
        raise Unreadable(f"the message's text cannot be decoded ({type(exc).__name__})") from None
    text = content if isinstance(content, str) else ""
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def attachments(parts: Sequence[Message], body: Message | None,
                limits: IntakeLimits) -> tuple[list[NewAttachment], str | None]:
    """The files of the message within the limits, and a note naming those left out."""
    kept: list[NewAttachment] = []
    dropped: list[str] = []
    total = 0
    for part in parts:
        if part.is_multipart() or part is body or not _is_file(part):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        filename = safe_filename(clean(part.get_filename() or ""))
        if len(data) > limits.attachment or total + len(data) > limits.attachments:
            dropped.append(f"{filename} ({len(data) // 1024} KiB)")
            continue
        total += len(data)
        kept.append(NewAttachment(filename, detected_type(data), data))
    if not dropped:
        return kept, None
    return kept, (f"Not kept, over the attachment limits ({limits.attachment // 1024} KiB each, "
                  f"{limits.attachments // 1024} KiB per message): {', '.join(dropped)}.")


def _is_file(part: Message) -> bool:
    """A part that is a file rather than the message's text (an attachment, an inline image)."""
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() not in ("text", "multipart", "message")


class WebhookMailIntake:
    """The ``EmailIngest`` the composition root hands the web app: a raw message a channel's signed webhook carried,
    read as ``ticketflow mail ingest`` reads one and received by the same use case, once per webhook-id."""

    def __init__(self, intake: EmailIntake, limits: IntakeLimits) -> None:
        self.intake, self.limits = intake, limits
        self.max_bytes = limits.message

    def __call__(self, raw: bytes, channel: str, webhook_id: str) -> IntakeOutcome | UnreadableEmail:
        if len(raw) > self.limits.message:
            return UnreadableEmail(f"the message is larger than {self.limits.message // 1024} KiB", too_large=True)
        try:
            mail = read_message(raw, self.limits, channel)
        except Unreadable as refused:
            return UnreadableEmail(refused.reason)
        return self.intake.receive(replace(mail, delivery=DeliveryKey(channel, webhook_id)))
