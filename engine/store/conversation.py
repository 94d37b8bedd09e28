"""The conversation's rows: entries and their attachments, and the look-ups that thread an email to its ticket.

An inbound email's entry is inserted with ``ON CONFLICT (message_id) DO NOTHING``: the unique index decides
whether this Message-ID was seen before, so two deliveries of the same message racing each other record it
once (no read-then-write window). SQLite (3.35+) and PostgreSQL both take the statement as written.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from engine.store.driver import Driver
from engine.store.packing import event_data


@dataclass(frozen=True, slots=True)
class NewAttachment:
    """A file to keep with an entry; ``content_type`` was detected from ``data``."""

    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class EntryRow:
    """One conversation entry as written and read (without its attachments' bytes)."""

    id: int | None
    ticket_id: int | None
    at: datetime
    author: str
    author_kind: str
    direction: str
    visibility: str
    source: str
    subject: str | None
    body: str
    shown: str
    message_id: str | None = None
    from_address: str | None = None
    outbox_id: int | None = None
    customer_replied: bool = False
    from_other_address: bool = False
    auto_reply: bool = False
    after_close: bool = False
    note: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """An attachment as a list shows it: no bytes."""

    id: int
    entry_id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class OutboxLine:
    """A message the outbox holds for a ticket, as the conversation lists it."""

    id: int
    at: datetime
    purpose: str
    recipient: str
    subject: str
    body: str
    state: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """A message's words as the history recorded them when it was queued (answer links withheld)."""

    subject: str = ""
    body: str = ""


_COLUMNS = tuple(f.name for f in fields(EntryRow) if f.name not in ("id", "attachments"))
_FLAGS = ("customer_replied", "from_other_address", "auto_reply", "after_close")
_SQL_INSERT = (f"INSERT INTO conversation_entry ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
               "ON CONFLICT (message_id) DO NOTHING RETURNING id")
_SQL_ENTRIES = (f"SELECT id, {', '.join(_COLUMNS)} FROM conversation_entry WHERE ticket_id = ? "
                "ORDER BY at, id")
_SQL_ATTACHMENTS = ("SELECT a.id, a.entry_id, a.filename, a.content_type, a.size FROM conversation_attachment a "
                    "JOIN conversation_entry e ON e.id = a.entry_id WHERE e.ticket_id = ? ORDER BY a.id")
_SQL_ADD_ATTACHMENT = ("INSERT INTO conversation_attachment (entry_id, filename, content_type, size, data) "
                       "VALUES (?, ?, ?, ?, ?)")
_SQL_ATTACHMENT = ("SELECT a.filename, a.content_type, a.data, e.ticket_id, e.visibility "
                   "FROM conversation_attachment a JOIN conversation_entry e ON e.id = a.entry_id WHERE a.id = ?")
_SQL_OUTBOX = ("SELECT id, created_at, purpose, recipient, subject, body, state, sent_at FROM outbox "
               "WHERE ticket_id = ? AND channel = 'email' ORDER BY created_at, id")
_NOTHING_RECORDED = RecordedMessage()
# The words of the ticket's messages as the history recorded them (answer links withheld): an archived message's.
_SQL_RECORDED_WORDS = ("SELECT data, packed FROM history_event WHERE ticket_id = ? AND kind = 'message_queued' "
                       "ORDER BY seq")
_SQL_SET_TICKET = "UPDATE conversation_entry SET ticket_id = ?, visibility = ?, after_close = ? WHERE id = ?"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class ConversationStore:
    """Conversation rows within the current transaction. Never commits."""

    def __init__(self, connection: Connection) -> None:
        self.sql = Driver.of(connection)

    def add(self, entry: EntryRow) -> int | None:
        """Insert ``entry``; its new id, or None when an entry with its Message-ID is already recorded."""
        params = [self._param(name, getattr(entry, name)) for name in _COLUMNS]
        row = self.sql.one(_SQL_INSERT, params)
        entry.id = int(row[0]) if row is not None else None
        return entry.id

    def _param(self, name: str, value: Any) -> Any:
        if name == "at":
            return self.sql.time_in(value)
        return bool(value) if name in _FLAGS else value

    def place(self, entry_id: int, ticket_id: int, visibility: str, after_close: bool) -> None:
        """Put an entry recorded before its ticket was known (email intake) on that ticket."""
        self.sql.execute(_SQL_SET_TICKET, (ticket_id, visibility, after_close, entry_id))

    def link_outbox(self, entry_id: int, outbox_id: int) -> None:
        """Note the email an agent's reply became (its delivery state is then shown on the reply)."""
        self.sql.execute("UPDATE conversation_entry SET outbox_id = ? WHERE id = ?", (outbox_id, entry_id))

    def attach(self, entry_id: int, files: Sequence[NewAttachment]) -> None:
        """Keep ``files`` with the entry."""
        rows = [(entry_id, f.filename, f.content_type, len(f.data), f.data) for f in files]
        if rows:
            self.sql.execute_many(_SQL_ADD_ATTACHMENT, rows)

    def entries(self, ticket_id: int) -> list[EntryRow]:
        """The ticket's entries in time order, each with its attachments listed."""
        names = ("id", *_COLUMNS)
        found: list[EntryRow] = []
        for row in self.sql.execute(_SQL_ENTRIES, (ticket_id,)).fetchall():
            values = dict(zip(names, row, strict=True))
            values["at"] = self.sql.time_out(values["at"])
            values.update({flag: bool(values[flag]) for flag in _FLAGS})
            found.append(EntryRow(**values))
        by_id = {entry.id: entry for entry in found}
        for row in self.sql.execute(_SQL_ATTACHMENTS, (ticket_id,)).fetchall():
            by_id[row[1]].attachments.append(AttachmentInfo(*row))
        return found

    def outbox(self, ticket_id: int) -> list[OutboxLine]:
        """The email the outbox holds for the ticket, oldest first."""
        rows = self.sql.execute(_SQL_OUTBOX, (ticket_id,)).fetchall()
        time_out = self.sql.time_out
        archived = self.recorded_messages(ticket_id) if any(r[5] == "" for r in rows) else {}
        lines = []
        for r in rows:
            recorded = archived.get(r[0], _NOTHING_RECORDED)
            lines.append(OutboxLine(id=r[0], at=time_out(r[1]) or datetime.min, purpose=r[2], recipient=r[3],
                                    subject=r[4] or recorded.subject, body=r[5] or recorded.body, state=r[6],
                                    sent_at=time_out(r[7])))
        return lines

    def recorded_messages(self, ticket_id: int) -> dict[int, RecordedMessage]:
        """Outbox id -> the subject and words the history recorded when the message was queued (archiving drops
        the outbox's copy of a delivered message: the history keeps it)."""
        found: dict[int, RecordedMessage] = {}
        for raw, packed in self.sql.execute(_SQL_RECORDED_WORDS, (ticket_id,)).fetchall():
            data = event_data(self.sql.json_out(raw), packed)
            if isinstance(data.get("message_id"), int) and isinstance(data.get("body"), str):
                found[data["message_id"]] = RecordedMessage(str(data.get("subject") or ""), data["body"])
        return found

    def attachment(self, attachment_id: int) -> tuple[str, str, bytes, int | None, str] | None:
        """(filename, content type, bytes, ticket id, visibility of its entry), or None."""
        row = self.sql.one(_SQL_ATTACHMENT, (attachment_id,))
        return (row[0], row[1], bytes(row[2]), row[3], row[4]) if row is not None else None

    def ticket_of_message_ids(self, message_ids: Sequence[str]) -> int | None:
        """The ticket one of ``message_ids`` belongs to (ours in the outbox, or an earlier entry's), newest first."""
        if not message_ids:
            return None
        marks = _marks(len(message_ids))
        sql = (f"SELECT ticket_id FROM outbox WHERE message_id IN ({marks}) AND ticket_id IS NOT NULL "
               f"UNION ALL SELECT ticket_id FROM conversation_entry WHERE message_id IN ({marks}) "
               "AND ticket_id IS NOT NULL")
        rows = self.sql.execute(sql, [*message_ids, *message_ids]).fetchall()
        return int(rows[0][0]) if rows else None

    def user_by_email(self, address: str) -> tuple[str, str] | None:
        """(name, role) of the enabled user with this email address (case aside), if exactly one has it."""
        rows = self.sql.execute("SELECT name, role FROM app_user WHERE lower(email) = ? AND disabled = ?",
                                (address.lower(), False)).fetchall()
        return (rows[0][0], rows[0][1]) if len(rows) == 1 else None

    def email_of_user(self, name: str) -> str | None:
        row = self.sql.one("SELECT email FROM app_user WHERE name = ?", (name,))
        return row[0] if row is not None else None
