"""`ticketflow channel add | list | rotate | remove`: the support channels that open tickets by signed webhook."""
from __future__ import annotations

import argparse
from typing import Any

from engine.access import Actor
from engine.config import EngineConfig
from engine.usecases.channels import NAME_RULE, ChannelAdmin
from ticketflow.composition import make_runtime

DELIVERY_URL = "/webhooks/inbound/"


def add_commands(commands: Any, command: Any) -> None:
    """Add `channel add|list|rotate|remove` to ``commands``; ``command(parent, name, help)`` makes each parser."""
    channel = command(commands, "channel", "webhook channels (Standard Webhooks) that open tickets").add_subparsers(
        required=True, metavar="ACTION")
    add = command(channel, "add", "register a channel and print its signing secret (shown once)")
    add.add_argument("name", help=NAME_RULE)
    add.add_argument("--as", dest="actor", default="admin", help="who adds it (recorded)")
    add.set_defaults(run=_add)
    listing = command(channel, "list", "the channels and how many secrets each has (never the secrets)")
    listing.set_defaults(run=_list)
    rotate = command(channel, "rotate", "add a second secret and print it; both verify until --retire")
    rotate.add_argument("name", help="the channel's name")
    rotate.add_argument("--retire", action="store_true", help="drop the older secret instead (ends the rotation)")
    rotate.set_defaults(run=_rotate)
    remove = command(channel, "remove", "remove a channel; the tickets it opened stay")
    remove.add_argument("name", help="the channel's name")
    remove.set_defaults(run=_remove)


def _admin(config: EngineConfig) -> ChannelAdmin:
    return ChannelAdmin(make_runtime(config))


def _add(args: argparse.Namespace, config: EngineConfig) -> int:
    secret = _admin(config).add(Actor(args.actor, "admin"), args.name)
    print(f"channel {args.name} added; it delivers to POST {DELIVERY_URL}{args.name}")
    print(f"signing secret (shown only now; give it to the channel): {secret}")
    return 0


def _list(args: argparse.Namespace, config: EngineConfig) -> int:
    channels = _admin(config).list_channels(Actor("admin", "admin"))
    for channel in channels:
        rotating = ", rotating" if channel.secrets > 1 else ""
        print(f"{channel.name:<31} {channel.secrets} secret(s){rotating}  added {channel.created_at:%Y-%m-%d} by "
              f"{channel.created_by}, newest secret {channel.rotated_at:%Y-%m-%d %H:%M} UTC")
    print(f"{len(channels)} channel(s)")
    return 0


def _rotate(args: argparse.Namespace, config: EngineConfig) -> int:
    secret = _admin(config).rotate(Actor("admin", "admin"), args.name, retire=args.retire)
    if secret is None:
        print(f"channel {args.name}: the older secret is retired; only the newest verifies now")
    else:
        print(f"channel {args.name}: new signing secret (shown only now; both verify until "
              f"`ticketflow channel rotate {args.name} --retire`): {secret}")
    return 0


def _remove(args: argparse.Namespace, config: EngineConfig) -> int:
    _admin(config).remove(Actor("admin", "admin"), args.name)
    print(f"channel {args.name} removed; its deliveries are refused from now on")
    return 0
