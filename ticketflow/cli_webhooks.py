"""`ticketflow webhooks list | add URL --events ... | remove ID | redeliver ID`: outbound webhook subscriptions."""
from __future__ import annotations

import argparse
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.store.webhooks import EVENT_TYPES
from engine.usecases.subscriptions import SubscriptionAdmin
from ticketflow.composition import make_runtime

ADMIN = Actor("admin", "admin")


def add_commands(commands: Any, command: Any) -> None:
    """Add `webhooks list|add|remove|redeliver` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    webhooks = command(commands, "webhooks", "outbound webhooks: ticket events POSTed, signed, to other systems"
                       ).add_subparsers(required=True, metavar="ACTION")
    command(webhooks, "list", "the subscriptions (never their secrets) and the dead letters").set_defaults(run=_list)
    add = command(webhooks, "add", "subscribe a URL to ticket events and print its signing secret (shown once)")
    add.add_argument("url", help="http(s) URL that receives the events")
    add.add_argument("--events", nargs="+", required=True, choices=EVENT_TYPES, metavar="EVENT",
                     help=f"one or more of: {', '.join(EVENT_TYPES)}")
    add.add_argument("--description", default="", help="what the subscription is for")
    add.add_argument("--as", dest="actor", default="admin", help="who adds it (recorded)")
    add.set_defaults(run=_add)
    remove = command(webhooks, "remove", "stop sending to a subscription; its delivery history stays")
    remove.add_argument("id", type=int, help="the subscription's number (see list)")
    remove.set_defaults(run=_remove)
    redeliver = command(webhooks, "redeliver", "deliver a dead or waiting webhook event again now")
    redeliver.add_argument("id", type=int, help="the delivery's number (see list)")
    redeliver.set_defaults(run=_redeliver)


def _admin(config: EngineConfig) -> SubscriptionAdmin:
    return SubscriptionAdmin(make_runtime(config))


def _add(args: argparse.Namespace, config: EngineConfig) -> int:
    view, secret = _admin(config).add(Actor(args.actor, "admin"), args.url, args.events, args.description)
    print(f"subscription {view.id} added: {view.url} receives {', '.join(view.events)}")
    print(f"signing secret (shown only now; give it to the receiver): {secret}")
    return 0


def _list(args: argparse.Namespace, config: EngineConfig) -> int:
    admin = _admin(config)
    subscriptions = admin.list_subscriptions(ADMIN)
    for s in subscriptions:
        state = f"disabled: {s.disabled_reason}" if s.disabled else "active"
        print(f"{s.id:>5}  {s.url}  [{state}]  {', '.join(s.events)}")
    print(f"{len(subscriptions)} subscription(s)")
    dead = admin.dead_letters(ADMIN)
    for d in dead:
        print(f"dead letter {d.id}: {d.event} of {d.ticket or '-'} to subscription {d.subscription_id}, after "
              f"{len(d.attempts)} attempt(s): {d.last_error or ''}")
    return 0


def _remove(args: argparse.Namespace, config: EngineConfig) -> int:
    _admin(config).remove(ADMIN, args.id)
    print(f"subscription {args.id} removed; its events are no longer sent")
    return 0


def _redeliver(args: argparse.Namespace, config: EngineConfig) -> int:
    delivery = _admin(config).redeliver(ADMIN, args.id)
    print(f"delivery {delivery.id} ({delivery.event} of {delivery.ticket or '-'}) will be sent in the worker's "
          "next round")
    return 0
