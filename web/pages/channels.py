"""The channels page for admins: the support channels that open tickets by signed webhook (a web form, a chat tool,
a mail gateway), with buttons to add one, rotate its signing secret, retire the older secret and remove it. A new
secret is shown once, on the page that answers the button, and never again."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import limits
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, TicketflowError
from engine.usecases.channels import NAME_RULE, ChannelAdmin
from web.pages.views import me, pages, runtime, signed_in


def channels() -> ChannelAdmin:
    if me().role != "admin":
        raise Forbidden("only admins look after the webhook channels")
    return ChannelAdmin(runtime())


def _page(fresh: tuple[str, str] | None = None, rotated: bool = False) -> Response:
    """The list of channels; with ``fresh`` (name, secret) the secret just made, shown this once."""
    listed = channels().list_channels(me().actor)
    response = make_response(render_template("channels.html", channels=listed, fresh=fresh, rotated=rotated,
                                             name_rule=NAME_RULE, name_max=limits.CHANNEL_NAME))
    if fresh is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret must not stay in a cache or the history
    return response


def _said(refused: TicketflowError) -> str:
    """An admin's words for a refusal: the rule that was broken, as a sentence."""
    words = "; ".join(error.message for error in refused.errors) if isinstance(refused, InvalidInput) \
        else refused.detail
    return words[:1].upper() + words[1:] + "."


@pages.get("/channels")
@signed_in
def channels_page() -> Response:
    return _page()


@pages.post("/channels")
@signed_in
def add_channel() -> Response:
    name = request.form.get("name", "").strip()
    try:
        secret = channels().add(me().actor, name)
    except (InvalidInput, Conflict) as refused:
        flash(f"The channel was not added. {_said(refused)}")
        return redirect(url_for("pages.channels_page"))
    return _page(fresh=(name, secret))


@pages.post("/channels/<name>/rotate")
@signed_in
def rotate_channel(name: str) -> Response:
    try:
        secret = channels().rotate(me().actor, name)
    except (NotFound, Conflict) as refused:
        flash(f"No new secret was made. {_said(refused)}")
        return redirect(url_for("pages.channels_page"))
    return _page(fresh=(name, secret or ""), rotated=True)


@pages.post("/channels/<name>/retire")
@signed_in
def retire_channel_secret(name: str) -> Response:
    try:
        channels().rotate(me().actor, name, retire=True)
    except (NotFound, Conflict) as refused:
        flash(f"Nothing was retired. {_said(refused)}")
    else:
        flash(f"The older secret of {name} is retired: only the newest one is accepted now.")
    return redirect(url_for("pages.channels_page"))


@pages.post("/channels/<name>/remove")
@signed_in
def remove_channel(name: str) -> Response:
    try:
        channels().remove(me().actor, name)
    except NotFound as refused:
        flash(f"Nothing was removed. {_said(refused)}")
    else:
        flash(f"The channel {name} is removed: its deliveries are refused from now on. The tickets it opened stay.")
    return redirect(url_for("pages.channels_page"))
