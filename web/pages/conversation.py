"""The conversation on the ticket and task pages: what the customer wrote, what agents answered, internal notes,
the emails sent; a box to write (agents choose a public reply or an internal note); attachments as downloads."""
from __future__ import annotations

import re
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from engine.errors import Conflict, InvalidInput
from engine.usecases.conversation import Conversation
from web.api.conversation import conversations
from web.pages.views import local_next, may_work, me, pages, runtime, signed_in

DELIVERY_WORDS = {"pending": "waiting to be sent", "held": "not sent: email is not configured (kept in the outbox)",
                  "delivered": "sent", "dead": "could not be delivered"}
FLAG_WORDS = {"from_other_address": "From an address that is not the customer's: check who wrote before acting on it",
              "auto_reply": "An automatic reply or bounce: nobody needs to answer it",
              "after_close": "Came after the ticket was closed: read it, and open a new ticket if it needs one",
              "customer_replied": "The customer wrote"}
SOURCE_WORDS = {"portal": "on the portal", "email": "by email", "agent": "", "answer_link": "by answer link",
                "outbox": "by email"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")


@pages.app_context_processor
def _conversation_words() -> dict[str, Any]:
    return {"delivery_words": DELIVERY_WORDS, "flag_words": FLAG_WORDS, "source_words": SOURCE_WORDS}


def conversation_for(number: str) -> Conversation:
    """The ticket's conversation as the signed-in person may read it."""
    return conversations().conversation(number, me().actor)


@pages.post("/tickets/<number>/messages")
@signed_in
def post_message(number: str) -> tuple[str, int] | WerkzeugResponse:
    actor = me().actor
    body = request.form.get("body", "")
    visibility = request.form.get("visibility", "public") if actor.role != "customer" else "public"
    back = local_next() or url_for("pages.ticket_page", number=number)
    try:
        conversations().post_message(number, body, visibility, actor)
    except InvalidInput as refused:
        return _again(number, body, visibility, [e.message for e in refused.errors] or [refused.detail]), 422
    except Conflict:
        return _again(number, body, visibility, ["The ticket changed while you were writing; your message was "
                                                 "not posted. Check the conversation and send it again."]), 409
    flash({"public": "Your message was posted." if actor.role == "customer" else
           "Your reply was posted and will be emailed to the customer.",
           "internal": "Your internal note was posted; the customer does not see it."}[visibility])
    return redirect(back + "#conversation")


def _again(number: str, body: str, visibility: str, errors: list[str]) -> str:
    """The ticket page with what was typed kept and the reason it was not posted."""
    actor = me().actor
    ticket, trail = runtime().ticket_with_trail(number, actor)
    readable = {t.id for t in ticket.ready_tasks if may_work(actor, t.lane) or actor.role == "auditor"}
    draft = {"body": body, "visibility": visibility, "errors": errors}
    return render_template("ticket.html", ticket=ticket, trail=trail, readable=readable,
                           conversation=conversation_for(number), draft=draft)


@pages.get("/attachments/<int:attachment_id>")
@signed_in
def attachment(attachment_id: int) -> Response:
    """A file of the conversation, always as a download, with the type detected when it was received."""
    filename, content_type, data = conversations().attachment(min(attachment_id, 2**31 - 1), me().actor)
    ascii_name = _SAFE_NAME.sub("_", filename) or "attachment"
    response = Response(data, mimetype=content_type)
    response.headers.set("Content-Disposition", "attachment", filename=ascii_name)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
