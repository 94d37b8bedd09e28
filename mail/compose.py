"""The customer's messages, written from templates: per kind a subject, a plain text and an HTML alternative.

Templates are Jinja2 files in ``mail/templates/`` (``<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html``);
HTML is autoescaped, and a subject is one line whatever the data put in it. Times are shown in the zone
the context names (``time_zone``, UTC until units have one), the zone written out.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from engine.execution.services import ComposedMessage, one_line

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS = ("acknowledgment", "resolution", "validation_request", "follow_up", "closure", "agent_reply")


def shown_time(value: datetime, zone: str = "UTC") -> str:
    """``value`` as a customer reads it: ``2026-03-02 13:00 UTC`` (the zone always named)."""
    try:
        local = value.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        zone, local = "UTC", value.astimezone(ZoneInfo("UTC"))
    return f"{local:%Y-%m-%d %H:%M} {zone}"


class TemplateComposer:
    """``engine.execution.services.MessageComposer`` over the Jinja2 templates; Message-IDs in ``domain``."""

    def __init__(self, domain: str = "localhost", templates: Path = TEMPLATES) -> None:
        if not domain or any(c in domain for c in "<>@ \r\n"):
            raise ValueError(f"not a domain for Message-IDs: {domain!r}")
        self.domain = domain
        self.env = Environment(loader=FileSystemLoader(templates), undefined=StrictUndefined,
                               autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                               auto_reload=False)  # templates ship with the code: no stat() per message
        self.env.filters["when"] = shown_time

    def compose(self, kind: str, context: Mapping[str, Any]) -> ComposedMessage:
        """The subject, text and HTML of ``kind`` for ``context``; LookupError for a kind with no templates."""
        if kind not in KINDS:
            raise LookupError(f"no message templates for '{kind}' (known: {', '.join(KINDS)})")
        facts = {"time_zone": "UTC", **context}
        subject = one_line(self.env.get_template(f"{kind}.subject.txt").render(facts))
        text = self.env.get_template(f"{kind}.txt").render(facts).strip() + "\n"
        html = self.env.get_template(f"{kind}.html").render(facts)
        return ComposedMessage(subject, text, html)

    def new_message_id(self) -> str:
        """``<32 hex digits@domain>``: unique without coordination between workers or hosts."""
        return f"<{uuid.uuid4().hex}@{self.domain}>"
