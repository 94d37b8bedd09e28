"""The webhooks page for admins: the outbound subscriptions, each one's recent deliveries (attempts, status codes,
latency), and the dead letters with a button to deliver each again."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from engine.errors import Conflict, Forbidden, NotFound
from engine.usecases.subscriptions import SubscriptionAdmin
from web.pages.views import me, pages, runtime, signed_in

RECENT = 10  # deliveries shown per subscription
STATE_WORDS = {"pending": "waiting to be sent", "delivered": "delivered", "dead": "given up", "held": "held"}


def admin() -> SubscriptionAdmin:
    if me().role != "admin":
        raise Forbidden("only admins look after webhooks")
    return SubscriptionAdmin(runtime())


@pages.get("/webhooks")
@signed_in
def webhooks_page() -> str:
    subscriptions = admin()
    actor = me().actor
    listed = subscriptions.list_subscriptions(actor)
    recent = {s.id: subscriptions.deliveries(actor, s.id, RECENT) for s in listed}
    return render_template("webhooks.html", subscriptions=listed, recent=recent,
                           dead=subscriptions.dead_letters(actor), words=STATE_WORDS)


@pages.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@signed_in
def redeliver_webhook(delivery_id: int) -> Response:
    subscriptions = admin()
    try:
        if delivery_id > 2**31 - 1:
            raise NotFound("no such delivery")  # beyond the column's range: never ask the database
        delivery = subscriptions.redeliver(me().actor, delivery_id)
    except Conflict as refused:
        flash(refused.detail[:1].upper() + refused.detail[1:] + ".")
    except NotFound:
        flash(f"There is no webhook delivery {delivery_id}.")
    else:
        flash(f"The {delivery.event} event of {delivery.ticket or 'no ticket'} will be delivered again in the "
              "worker's next round.")
    return redirect(url_for("pages.webhooks_page"))
