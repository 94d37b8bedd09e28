"""The outbox page for admins: every message to a customer, what it says, to whom, its state and attempts,
the last error in plain words, and a button to send it again."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, Forbidden, NotFound
from engine.usecases.outbox_admin import STATES, OutboxAdmin
from web.pages.views import me, pages, runtime, signed_in

SHOWN = 100
STATE_WORDS = {"pending": "waiting to be sent", "held": "held: email is not configured",
               "delivered": "delivered", "dead": "given up"}


def outbox() -> OutboxAdmin:
    if me().role != "admin":
        raise Forbidden("only admins look after the outbox")
    return OutboxAdmin(runtime())


@pages.get("/outbox")
@signed_in
def outbox_page() -> str:
    admin = outbox()
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        state = None  # an unknown filter shows everything rather than failing
    messages, total = admin.list_messages(me().actor, state, SHOWN)
    return render_template("outbox.html", messages=messages, total=total, state=state, states=STATES,
                           words=STATE_WORDS)


@pages.post("/outbox/<int:message_id>/retry")
@signed_in
def retry_message(message_id: int) -> Response:
    admin = outbox()
    try:
        if message_id > 2**31 - 1:
            raise NotFound("no such message")  # beyond the column's range: never ask the database
        message = admin.retry(me().actor, message_id)
    except Conflict as refused:
        flash(refused.detail[:1].upper() + refused.detail[1:] + ".")
    except NotFound:
        flash(f"There is no message {message_id}.")
    else:
        flash(f"Message {message.id} to {message.recipient} will be sent in the worker's next round.")
    return redirect(url_for("pages.outbox_page"))
