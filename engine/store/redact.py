"""Personal data taken out of text that becomes a knowledge article: emails, phone numbers, people, ticket numbers."""
from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
TICKET_NUMBER = re.compile(r"\bT-\d{1,12}\b", re.IGNORECASE)
# Regions tried in turn: numbers written with a + are found by any of them; the rest by their own region.
PHONE_REGIONS = ("US", "GB", "DE", "FR")
# Shared mailboxes name a service, not a person.
ROLE_MAILBOXES = frozenset(("support", "info", "admin", "help", "helpdesk", "noreply", "sales", "contact", "service",
                            "team", "billing", "office", "hello", "mail", "postmaster", "webmaster"))
# Account names that are also words of the trade ("root cause", "system"): never taken for a person's name.
NOT_NAMES = ROLE_MAILBOXES | {"root", "system", "user", "agent", "customer", "test", "guest", "operator", "manager"}
_ROLE_NOTE = re.compile(r"\s*\([^)]*\)\s*$")  # "lena (L1)": the person is "lena"


def person_names(names: Iterable[str]) -> list[str]:
    """The spellings of each person's name to remove: as recorded, without a role note, and each part of it."""
    found: set[str] = set()
    for raw in names:
        name = _ROLE_NOTE.sub("", raw).strip()
        if not name or "@" in name:
            continue
        found.add(name)
        found.update(part for part in re.split(r"[\s._-]+", name) if len(part) >= 3)
    found = {name for name in found if name.lower() not in NOT_NAMES}
    return sorted(found, key=len, reverse=True)  # "Ada Lovelace" before "Ada"


def mailbox_names(text: str) -> list[str]:
    """People named by the email addresses in ``text``: "alice.martin@..." names Alice and Martin."""
    found = []
    for address in EMAIL.findall(text):
        found += [part for part in re.split(r"[._+'-]+", address.split("@")[0])
                  if part.isalpha() and part.lower() not in ROLE_MAILBOXES]
    return found


def redact(text: str, names: Iterable[str]) -> str:
    """``text`` with personal data replaced by a placeholder in brackets."""
    people = [*names, *mailbox_names(text)]
    text = EMAIL.sub("[email]", text)
    text = _without_phones(text)
    text = TICKET_NUMBER.sub("[ticket]", text)
    for name in person_names(people):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name]", text, flags=re.IGNORECASE)
    return text


def _without_phones(text: str) -> str:
    for region in PHONE_REGIONS:
        spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region)]
        for start, end in reversed(spans):
            text = text[:start] + "[phone]" + text[end:]
    return text
