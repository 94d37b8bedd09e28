"""The admins' pages: a landing page with what there is to look after (users, units, channels, webhooks, outbox),
and the users with their roles and units, where an admin adds a user or issues a new token (the old one stops
working). A token is shown once, on the page that answers the button, and never again."""
from __future__ import annotations

from dataclasses import dataclass

from flask import flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine import limits
from engine.access import ROLES, Actor
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.usecases.channels import ChannelAdmin
from engine.usecases.outbox_admin import OutboxAdmin
from engine.usecases.subscriptions import SubscriptionAdmin
from engine.usecases.units import UnitAdmin
from web.auth import directory
from web.pages.views import me, pages, runtime, signed_in

ROLE_WORDS = {"customer": "Customer", "l1": "L1 support agent", "l2": "L2 support engineer",
              "process_owner": "Process owner", "auditor": "Auditor", "admin": "Administrator"}
USER_FIELDS = ("name", "role", "email", "unit")


@dataclass(frozen=True)
class Fresh:
    """A token just made, for the page that shows it this once."""

    name: str
    token: str
    added: bool  # a new user (else a replaced token)


def admin_only() -> Actor:
    if me().role != "admin":
        raise Forbidden("only admins look after users, units and channels")
    return me().actor


@pages.get("/admin")
@signed_in
def admin_page() -> str:
    actor = admin_only()
    users = directory().list_users()
    outbox = OutboxAdmin(runtime())
    waiting = {state: outbox.list_messages(actor, state, 1)[1] for state in ("pending", "held", "dead")}
    subscriptions = SubscriptionAdmin(runtime())
    roles = {role: sum(1 for u in users if u.role == role) for role in ROLES}
    return render_template("admin.html", users=len(users), roles=roles, role_words=ROLE_WORDS,
                           units=len(UnitAdmin(runtime()).list_units()),
                           channels=len(ChannelAdmin(runtime()).list_channels(actor)),
                           subscriptions=len(subscriptions.list_subscriptions(actor)),
                           dead_letters=len(subscriptions.dead_letters(actor)), waiting=waiting)


# -- users ----------------------------------------------------------------------------------------
def users_page(fresh: Fresh | None = None, values: dict[str, str] | None = None,
               errors: dict[str, list[str]] | None = None, status: int = 200) -> Response:
    """The users with the add form; with ``fresh`` the token just made, shown this once (and never cached)."""
    admin_only()
    response = make_response(render_template(
        "admin_users.html", users=directory().list_users(), roles=ROLES, role_words=ROLE_WORDS,
        units=[(u["code"], u["name"]) for u in UnitAdmin(runtime()).list_units()], fresh=fresh,
        values=values or {"role": "l1"}, errors=errors or {}, me=me().name), status)
    if fresh is not None:
        response.headers["Cache-Control"] = "no-store"  # the token must not stay in a cache or the history
    return response


@pages.get("/admin/users")
@signed_in
def admin_users() -> Response:
    return users_page()


@pages.post("/admin/users")
@signed_in
def add_user_submit() -> Response:
    admin_only()
    values = {name: request.form.get(name, "").strip() for name in USER_FIELDS}
    try:
        user, token = directory().add_user(values["name"], values["role"], values["email"] or None,
                                           values["unit"] or None)
    except InvalidInput as refused:
        errors: dict[str, list[str]] = {}
        for error in refused.errors:
            field = error.pointer.strip("/")
            errors.setdefault(field if field in USER_FIELDS else "name", []).append(sentence(error.message))
        return users_page(values=values, errors=errors, status=422)
    except Conflict as refused:
        return users_page(values=values, errors={"name": [sentence(refused.detail)]}, status=409)
    return users_page(fresh=Fresh(user.name, token, added=True))


@pages.post("/admin/users/<name>/token")
@signed_in
def new_token_submit(name: str) -> Response:
    admin_only()
    try:
        if limits.unstorable(name):
            raise NotFound("no such user")  # never ask the database (PostgreSQL refuses NUL characters)
        token = directory().issue_token(name)
    except NotFound:
        flash(f"There is no user {name}: no token was made.")
        return redirect(url_for("pages.admin_users"))
    return users_page(fresh=Fresh(name, token, added=False))


def sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")
