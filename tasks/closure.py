"""Close the ticket, only after the customer explicitly confirmed resolution; then let the knowledge base learn."""
from __future__ import annotations

from typing import Any

from engine.execution.services import ServiceContext
from engine.store.driver import Driver
from engine.store.kb_drafts import TicketFacts, count_reuse, create_draft, read_record


def record_closure(ctx: ServiceContext) -> dict[str, Any]:
    """Record the closing time, thank the customer for confirming, and count a reuse or draft an article."""
    ctx.ticket.closed_at = ctx.now
    ctx.queue_message("closure", {"closed_at": ctx.now})
    result: dict[str, Any] = {"closed_at": ctx.now.isoformat()}
    result.update(learn_from_resolution(ctx))
    return result


def learn_from_resolution(ctx: ServiceContext) -> dict[str, str]:
    """KCS at closure: a resolution that used an article counts one reuse; any other becomes a draft article."""
    sql, ticket = Driver.of(ctx.connection), ctx.ticket
    pending = [(e.element_id, e.actor, e.data) for e in ctx.journal.pending if e.kind == "task_completed"]
    record = read_record(sql, ticket.id, pending)
    used = record.article_used
    if used and count_reuse(sql, used, ticket.id, ctx.now):
        ctx.journal.record("kb_article_reused", "system", ctx.now, {"article": used})
        return {"kb_article_reused": used}
    facts = TicketFacts(ticket.id, ticket.subject, ticket.description,
                        {"type": ticket.type, "priority": ticket.priority, "impact": ticket.impact},
                        tuple(str(p) for p in (ticket.customer, ticket.registered_by, *ticket.contact.values()) if p))
    slug = create_draft(sql, facts, record, ctx.now)
    ctx.journal.record("kb_draft_created", "system", ctx.now, {"article": slug})
    return {"kb_draft_created": slug}
