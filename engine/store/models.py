"""SQLAlchemy 2.0 typed models. The schema itself is created by the Alembic migrations."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from engine import limits
from engine.store.packing import event_data

OUTBOX_MESSAGE_ID = 255  # "<uuid@domain>": 32 hex digits, "@" and a domain name (at most 253)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which drops the offset) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; ticketflow stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stored_digest(digest: str) -> bytes:
    """A SHA-256 digest as the database keeps it: its 32 bytes, half the room of the hex text."""
    return bytes.fromhex(digest)


def read_digest(stored: bytes | memoryview) -> str:
    """A stored digest as everything above the database shows it: hex digits."""
    return bytes(stored).hex()


class Digest(TypeDecorator[str]):
    """A SHA-256 digest column for SQLAlchemy; raw-driver paths convert with ``stored_digest``/``read_digest``."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else stored_digest(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        return None if value is None else read_digest(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class ProcessDefinition(Base):
    """An immutable deployed diagram with its forms; tickets are pinned to one."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bpmn: Mapped[bytes] = mapped_column(LargeBinary)
    forms: Mapped[dict[str, Any]]  # file name -> text
    deployed_by: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    deployed_at: Mapped[datetime]


class DefinitionActivation(Base):
    """Who made which version the one new tickets start on, and when; the latest row per key wins."""

    __tablename__ = "definition_activation"
    __table_args__ = (Index("ix_definition_activation_key", "key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    activated_by: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    activated_at: Mapped[datetime]


class Unit(Base):
    """A support unit and its service levels (ISO 8601 durations)."""

    __tablename__ = "unit"

    code: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    first_response: Mapped[str] = mapped_column(String(32))  # the target before a priority is known
    response_window: Mapped[str] = mapped_column(String(32))
    # Business time (engine/execution/business_time.py); null columns mean the seeded defaults (units.py).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    business_hours: Mapped[dict[str, Any] | None]  # weekday -> ["09:00-17:00", ...]
    holiday_country: Mapped[str | None] = mapped_column(String(8))
    holiday_subdivision: Mapped[str | None] = mapped_column(String(16))
    holiday_calendar: Mapped[str | None] = mapped_column(Text)  # iCalendar text of all-day closing days
    targets: Mapped[dict[str, Any] | None]  # priority -> {first_response, resolution, 24x7}
    reminder_every: Mapped[str | None] = mapped_column(String(32))  # null: every response window
    follow_up_after: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # the API's ETag


# The worklist's partial indexes (migration 0016): open tickets by their next due time.
_OPEN_UNANSWERED = text("status <> 'closed' AND first_response_at IS NULL")
_OPEN_ANSWERED = text("status <> 'closed' AND first_response_at IS NOT NULL")


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_status_opened", "status", "opened_at"),
        Index("ix_ticket_customer_opened", "customer", "opened_at"),
        Index("ix_ticket_unit_status", "unit_code", "status"),
        Index("ix_ticket_priority_status", "priority", "status"),
        # The summary report's covering indexes (migration 0014): what it reads of closed and opened tickets.
        Index("ix_ticket_report_closed", "closed_at", "unit_code", "priority", "escalations", "persists", "reminders",
              "follow_ups", "first_response_business_s", "resolution_business_s", "first_response_breached",
              "resolution_breached"),
        Index("ix_ticket_report_opened", "opened_at", "unit_code", "priority", "closed_at"),
        # The ticket list's and the worklist's orders (migration 0016): each filter and sort walks an index.
        Index("ix_ticket_opened", "opened_at", "id"),
        Index("ix_ticket_priority_opened", "priority", "opened_at", "id"),
        Index("ix_ticket_sla_opened", "sla_state", "opened_at", "id"),
        Index("ix_ticket_channel_opened", "channel", "opened_at", "id"),
        Index("ix_ticket_unit_opened", "unit_code", "opened_at", "id"),
        Index("ix_ticket_priority_id", "priority", "id"),
        Index("ix_ticket_response_due", "first_response_due", "id"),
        Index("ix_ticket_resolution_due", "resolution_due", "id"),
        Index("ix_ticket_open_response_due", "first_response_due", "id", sqlite_where=_OPEN_UNANSWERED,
              postgresql_where=_OPEN_UNANSWERED),
        Index("ix_ticket_open_resolution_due", "resolution_due", "id", sqlite_where=_OPEN_ANSWERED,
              postgresql_where=_OPEN_ANSWERED),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    current_lanes: Mapped[str] = mapped_column(String(limits.CURRENT_LANES), default="")
    current_steps: Mapped[str] = mapped_column(String(limits.CURRENT_STEPS), default="")
    channel: Mapped[str] = mapped_column(String(30))
    customer: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    contact: Mapped[dict[str, Any]]
    registered_by: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    subject: Mapped[str] = mapped_column(String(limits.SUBJECT))
    description: Mapped[str] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(30))
    impact: Mapped[str | None] = mapped_column(String(10))
    urgency: Mapped[str | None] = mapped_column(String(10))
    priority: Mapped[str | None] = mapped_column(String(2))
    unit_code: Mapped[str] = mapped_column(ForeignKey("unit.code"))
    opened_at: Mapped[datetime]
    first_response_due: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    workflow: Mapped[str] = mapped_column(Text)
    next_timer_at: Mapped[datetime | None] = mapped_column(index=True)
    stalled_reason: Mapped[str | None] = mapped_column(Text)
    # The service-level record (business time, in the unit's calendar); the reports read these columns.
    resolution_due: Mapped[datetime | None]
    sla_state: Mapped[str] = mapped_column(String(10), default="on_track", server_default="on_track")
    sla_paused_since: Mapped[datetime | None]  # the clocks stand still while the customer's task is open
    sla_paused_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sla_next_check_at: Mapped[datetime | None] = mapped_column(index=True)  # the next 75% or 100% instant
    first_response_business_s: Mapped[int | None]
    resolution_business_s: Mapped[int | None]
    first_response_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # What happened on the way, counted as it happens so reports need no workflow and no event scan.
    escalations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    persists: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reminders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    follow_ups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    step_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # since the last success
    history_seq: Mapped[int] = mapped_column(default=0)
    history_head: Mapped[str] = mapped_column(String(64), default="")

    # Optimistic lock: every UPDATE says "... WHERE version = :seen" and bumps it.
    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """The worklist: READY user tasks, kept in step with the workflow in the same transaction."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_state_lane", "state", "lane", "created_at"),
        Index("ix_human_task_state_assignee", "state", "assignee"),
        Index("ix_human_task_ticket_state", "ticket_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the SpiffWorkflow task id
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))  # indexed by ix_human_task_ticket_state
    element_id: Mapped[str] = mapped_column(String(limits.ELEMENT_ID))
    name: Mapped[str] = mapped_column(String(limits.ELEMENT_NAME))
    lane: Mapped[str] = mapped_column(String(limits.LANE))
    form: Mapped[str | None] = mapped_column(String(limits.FORM_FILE))
    state: Mapped[str] = mapped_column(String(20))  # ready | completed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(limits.PERSON_NAME))
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(limits.PERSON_NAME))
    completed_at: Mapped[datetime | None]


class HistoryEvent(Base):
    """Append-only, hash-chained record of everything that happened to a ticket."""

    __tablename__ = "history_event"
    __table_args__ = (Index("ix_history_event_at_ticket_seq", "at", "ticket_id", "seq"),)

    # Keyed by what names an event, its ticket and place in the chain: no surrogate id (and its index) per row.
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    kind: Mapped[str] = mapped_column(String(50))
    element_id: Mapped[str | None] = mapped_column(String(limits.ELEMENT_ID))
    element_name: Mapped[str | None] = mapped_column(String(limits.ELEMENT_NAME))
    lane: Mapped[str | None] = mapped_column(String(limits.LANE))
    task_id: Mapped[str | None] = mapped_column(String(36))
    # The data as JSON, or JSON null when ``packed`` holds it (engine/store/packing.py): read ``data``.
    stored_data: Mapped[dict[str, Any] | None] = mapped_column("data", JSON(none_as_null=False), nullable=False)
    packed: Mapped[bytes | None] = mapped_column(LargeBinary)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(Digest)

    @property
    def data(self) -> dict[str, Any]:
        return event_data(self.stored_data, self.packed)  # type: ignore[no-any-return]

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self.stored_data, self.packed = value, None


UNDELIVERED = text("state <> 'delivered'")


class OutboxMessage(Base):
    """A message to deliver after commit (email or webhook), composed when queued, with retry bookkeeping.

    ``message_id`` (the RFC 5322 Message-ID) is fixed when the row is written, so every attempt, a retry
    after a crash included, carries the same one; ``in_reply_to`` is the ticket's first message's.
    """

    __tablename__ = "outbox"
    # Only messages not yet delivered are polled: queries on this index say ``state <> 'delivered'`` too.
    __table_args__ = (Index("ix_outbox_undelivered", "state", "next_attempt_at", sqlite_where=UNDELIVERED,
                            postgresql_where=UNDELIVERED),
                      Index("ix_outbox_message_id", "message_id", unique=True),
                      Index("ix_outbox_subscription", "subscription_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # email | webhook
    purpose: Mapped[str] = mapped_column(String(50))  # acknowledgment, resolution, validation_request, ...
    recipient: Mapped[str] = mapped_column(String(limits.RECIPIENT))
    subject: Mapped[str] = mapped_column(String(limits.MESSAGE_SUBJECT))
    body: Mapped[str] = mapped_column(Text)  # the plain text
    html: Mapped[str | None] = mapped_column(Text)  # the HTML alternative
    message_id: Mapped[str] = mapped_column(String(OUTBOX_MESSAGE_ID))
    in_reply_to: Mapped[str | None] = mapped_column(String(OUTBOX_MESSAGE_ID))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending | held | delivered | dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]  # a worker's lease: claimable again once it has passed
    claimed_by: Mapped[str | None] = mapped_column(String(36))  # the lease holder's random token
    last_error: Mapped[str | None] = mapped_column(Text)
    delivery_response: Mapped[str | None] = mapped_column(Text)  # the mail server's answer on acceptance
    # the webhook subscription a ``webhook`` row goes to (None for email)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_subscription.id"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


# The index's condition as a query must say it, word for word (SQLite uses a partial index only then): a literal,
# never a bound parameter.
NOT_DELIVERED = OutboxMessage.__table__.c.state.op("<>")(literal_column("'delivered'"))


class KbArticle(Base):
    """A knowledge-base article; searched with the database's own full-text index."""

    __tablename__ = "kb_article"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(limits.KB_SLUG), unique=True)
    title: Mapped[str] = mapped_column(String(limits.KB_TITLE))
    body: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[str] = mapped_column(String(limits.KB_KEYWORDS), default="")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    # An article past its review date is not "up to date" and is not offered as a resolution.
    review_by: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # The knowledge-centred lifecycle; the reports read these columns and the two tables below.
    state: Mapped[str] = mapped_column(String(12), default="published", server_default="published")
    created_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]  # the first publication
    # The ticket whose resolution it came from. No foreign key: SQLite cannot add one to an existing table.
    source_ticket_id: Mapped[int | None]
    reuse_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The KCS record (``body`` and ``keywords`` above are the pre-KCS shape, copied into resolution and tags).
    problem: Mapped[str] = mapped_column(Text, default="", server_default="")
    environment: Mapped[str] = mapped_column(Text, default="", server_default="")
    cause: Mapped[str] = mapped_column(Text, default="", server_default="")
    resolution: Mapped[str] = mapped_column(Text, default="", server_default="")
    tags: Mapped[str] = mapped_column(String(limits.KB_KEYWORDS), default="", server_default="")
    author: Mapped[str | None] = mapped_column(String(limits.PERSON_NAME))
    reviewer: Mapped[str | None] = mapped_column(String(limits.PERSON_NAME))
    reviewed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # the If-Match of an edit
    review_note: Mapped[str] = mapped_column(Text, default="", server_default="")  # why it was sent back


class KbArticleVersion(Base):
    """What an article said after one edit, by whom and when."""

    __tablename__ = "kb_article_version"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_kb_article_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(limits.KB_TITLE))
    problem: Mapped[str] = mapped_column(Text)
    environment: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    resolution: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(String(limits.KB_KEYWORDS))
    editor: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(500), default="", server_default="")


class KbArticleUse(Base):
    """A ticket that used an article to resolve (``used``) or whose resolution produced it (``produced``)."""

    __tablename__ = "kb_article_use"
    __table_args__ = (Index("ix_kb_article_use_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    relation: Mapped[str] = mapped_column(String(10))  # used | produced
    at: Mapped[datetime]


class KbDeflection(Base):
    """A customer who found their answer in an article and opened no ticket."""

    __tablename__ = "kb_deflection"
    __table_args__ = (Index("ix_kb_deflection_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"))
    at: Mapped[datetime]
    query: Mapped[str] = mapped_column(String(200), default="")
    user_name: Mapped[str | None] = mapped_column(String(limits.PERSON_NAME))


class User(Base):
    """Someone who works or reads tickets: an agent, a customer, an auditor, a process owner or an admin."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.PERSON_NAME), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(limits.CONTACT_DETAIL))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("unit.code"))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name; none: the unit's zone, else UTC


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256; at most one is live per user."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))  # the first characters, to tell tokens apart
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditAnchor(Base):
    """A periodic anchor: the head of every ticket changed since the previous anchor, hash-chained.

    The hash covers the anchor's own fields and the digest of its entries, and links to the
    previous anchor's hash, so deleting a ticket's latest events (and rewinding the ticket row)
    no longer goes unnoticed once an anchor has recorded them. Append-only.
    """

    __tablename__ = "audit_anchor"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    tickets: Mapped[int]
    entries_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchorEntry(Base):
    """One ticket's history head (last sequence number and its hash) as one anchor recorded it."""

    __tablename__ = "audit_anchor_entry"
    __table_args__ = (Index("ix_audit_anchor_entry_ticket_seq", "ticket_id", "head_seq"),)

    # Deferred: entries are written first and their anchor last, once its digest is known (the
    # anchor row is append-only, so it cannot be inserted early and completed later).
    anchor_seq: Mapped[int] = mapped_column(
        ForeignKey("audit_anchor.seq", deferrable=True, initially="DEFERRED"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), primary_key=True)
    head_seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))


class AuditAccess(Base):
    """An auditor's read: who looked at what (history, replay, audit, export, as_of) and when. Append-only."""

    __tablename__ = "audit_access"
    __table_args__ = (Index("ix_audit_access_ticket_at", "ticket_id", "at"), Index("ix_audit_access_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    role: Mapped[str] = mapped_column(String(20))
    what: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    ticket_number: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]]


class PageSession(Base):
    """A signed-in browser. The cookie carries a random id; this row keeps only its SHA-256, so neither a
    copy of the database nor the secret key lets anyone forge a session. Ended rows are kept."""

    __tablename__ = "page_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ConversationEntry(Base):
    """One message of a ticket's conversation: a customer's (portal or email), an agent's reply or internal note.

    ``body`` is kept as received; ``shown`` is what people read (quotes and signature stripped). An email's
    ``message_id`` is unique, so the same message piped twice is recorded once. An auto-reply or bounce that
    matches no ticket is kept with no ticket (``ticket_id`` NULL): recorded, never answered.
    """

    __tablename__ = "conversation_entry"
    __table_args__ = (Index("ix_conversation_entry_ticket_at", "ticket_id", "at"),
                      Index("ix_conversation_entry_message_id", "message_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    author_kind: Mapped[str] = mapped_column(String(20))  # customer | agent | system
    direction: Mapped[str] = mapped_column(String(10))  # inbound (to the team) | outbound (to the customer)
    visibility: Mapped[str] = mapped_column(String(10))  # public | internal
    source: Mapped[str] = mapped_column(String(20))  # portal | email | agent | answer_link
    subject: Mapped[str | None] = mapped_column(String(limits.MESSAGE_SUBJECT))
    body: Mapped[str] = mapped_column(Text)
    shown: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(OUTBOX_MESSAGE_ID))
    from_address: Mapped[str | None] = mapped_column(String(limits.CONTACT_DETAIL))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))  # the email an agent's reply became
    customer_replied: Mapped[bool] = mapped_column(Boolean, default=False)
    from_other_address: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    after_close: Mapped[bool] = mapped_column(Boolean, default=False)  # came after the ticket was closed
    note: Mapped[str | None] = mapped_column(Text)  # what intake did not keep (parts over the limits), in words


class SavedView(Base):
    """A ticket list query an agent named and keeps (the list page's parameters, as given)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_saved_view_owner_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(limits.PERSON_NAME))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class ConversationAttachment(Base):
    """A file that came with a conversation entry; its type is detected from the bytes, never taken on trust."""

    __tablename__ = "conversation_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("conversation_entry.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class WebhookChannel(Base):
    """A support channel (a web form, a chat tool, a gateway) that opens tickets by signed webhook."""

    __tablename__ = "webhook_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.CHANNEL_NAME), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(limits.PERSON_NAME))


class WebhookSecret(Base):
    """A channel's signing secret (``whsec_`` + base64). Standard Webhooks signs with HMAC over the secret itself,
    so the secret is kept, not a hash; during a rotation a channel has two and either verifies."""

    __tablename__ = "webhook_secret"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("webhook_channel.id"), index=True)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """A delivery that opened a ticket. (channel, webhook_id) is unique and the row is written in the ticket's own
    transaction, so a copy of the delivery, even one arriving at the same moment, finds the ticket instead of
    opening another."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("channel", "webhook_id", name="uq_webhook_delivery_channel_webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(limits.CHANNEL_NAME))
    webhook_id: Mapped[str] = mapped_column(String(limits.WEBHOOK_ID))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    received_at: Mapped[datetime]


class WebhookSubscription(Base):
    """An outbound webhook: where ticket events are POSTed, which ones, and the ``whsec_`` secret that signs them
    (kept, not hashed: Standard Webhooks signs with HMAC over the secret itself). A 410 from the receiver disables
    it, with the reason."""

    __tablename__ = "webhook_subscription"
    __table_args__ = (Index("ix_webhook_subscription_active", "disabled", "deleted"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(limits.RECIPIENT))
    event_types: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(String(limits.PERSON_NAME), default="")
    secret: Mapped[str] = mapped_column(String(100))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)  # removed: kept for its delivery history
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(limits.PERSON_NAME))


class WebhookAttempt(Base):
    """One attempt to deliver an outbox webhook row: the receiver's status code (None when it never answered),
    how long it took and, on failure, why."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"), index=True)
    attempt: Mapped[int]
    at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
