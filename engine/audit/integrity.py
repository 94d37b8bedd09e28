"""Checking a ticket's hash chain and its anchors, one streamed event at a time.

The chain alone catches an event edited in place, removed from the middle, moved or inserted.
It cannot catch the removal of a ticket's latest events when the ticket row's head is rewound
with them, nor a rewrite that recomputes every hash from some event on: anchors can. An anchor
records, for every ticket changed since the previous anchor, the head sequence number and hash;
a later check finds an anchored event missing, or different from what the anchor saw.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.store.history import GENESIS, canonical, event_hash, links_to


@dataclass(frozen=True)
class Finding:
    """The first event of a ticket's history that fails, and how.

    ``problem`` is one of: ``altered`` (content no longer matches its hash, or its hash was
    recomputed and the next event still names the old one), ``missing`` (deleted; trailing
    events too), ``reordered``, ``inserted``, ``rewritten`` (differs from what an anchor recorded).
    """

    seq: int
    problem: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class AnchorMark:
    """One anchor's record of one ticket's head."""

    anchor_seq: int
    anchor_at: datetime
    head_seq: int
    head_hash: str


class Lookup:
    """Queries the diagnosis of a broken link needs; only asked once a chain has failed."""

    def __init__(self, successor: Callable[[str, int], int | None], full_hash: Callable[[str], str | None]) -> None:
        self.successor = successor  # (a whole hash, excluding seq) -> seq of another event linking to it
        self.full_hash = full_hash  # a stored link -> the whole hash of the ticket's event it names, if any


class ChainCheck:
    """Feed a ticket's events in seq order; ``finish`` names the first failure, if any."""

    def __init__(self, head_seq: int, head_hash: str, marks: Iterable[AnchorMark] = ()) -> None:
        self.head_seq = head_seq
        self.head_hash = head_hash or GENESIS
        self.marks = sorted(marks, key=lambda m: m.head_seq)
        self._wanted = {m.head_seq for m in self.marks}
        self._seen: dict[int, str] = {}
        self.count = 0
        self._prev = GENESIS
        self._prev_link = ""  # the hash of the event before the last good one
        self._finding: Finding | None = None
        self._broken: tuple[int, Any] | None = None  # a broken link to diagnose in finish()

    def feed(self, row: Any) -> None:
        if row.seq in self._wanted:
            self._seen[row.seq] = row.hash
        if self._finding is not None or self._broken is not None:
            return
        expected = self.count + 1
        if row.seq != expected:
            self._finding = Finding(expected, "missing", f"event {expected} is missing: the history jumps "
                                    f"from event {expected - 1} to event {row.seq}")
            return
        self.count = expected
        if not links_to(row.prev_hash, self._prev) or event_hash(row, self._prev) != row.hash:
            self._broken = (expected, row)
        elif expected > self.head_seq:
            self._finding = Finding(expected, "inserted", f"event {expected} ({row.kind}) follows the ticket's "
                                    f"recorded head, event {self.head_seq}: it was added outside the engine")
        else:
            self._prev_link, self._prev = self._prev, row.hash

    def finish(self, lookup: Lookup) -> Finding | None:
        found = self._finding or (self._diagnose(*self._broken, lookup) if self._broken else None)
        if found is None and self.count < self.head_seq:
            found = Finding(self.count + 1, "missing", f"events {self.count + 1} to {self.head_seq} are missing: "
                            f"the ticket's head is event {self.head_seq}, the history ends at {self.count}")
        elif found is None and self._prev != self.head_hash:
            found = Finding(self.count, "altered", f"event {self.count} is not the ticket's recorded head: it "
                            "was altered and its hash recomputed")
        anchored = self._anchor_finding()
        if anchored is not None and (found is None or anchored.seq < found.seq):
            return anchored
        return found

    def _diagnose(self, seq: int, row: Any, lookup: Lookup) -> Finding:
        # The event's hash covers its predecessor's whole hash; the stored link names which event that is.
        named = self._prev if links_to(row.prev_hash, self._prev) else lookup.full_hash(row.prev_hash)
        if named is None and len(row.prev_hash) == len(GENESIS):  # an older event stores the whole hash
            named = row.prev_hash
        # With a short link to an event that is gone, the content cannot be checked: take it as intact.
        intact = named is None or event_hash(row, named) == row.hash
        if links_to(row.prev_hash, self._prev):  # linked where it stands, but its content changed
            other = lookup.successor(self._prev, seq)
            if other is not None:
                return Finding(seq, "inserted", f"event {seq} ({row.kind}) and event {other} both claim to "
                               f"follow event {seq - 1}: one of them was inserted")
            return Finding(seq, "altered", f"event {seq} ({row.kind}) was altered: its content does not match "
                           "its hash")
        successor = lookup.successor(self._prev, seq)
        if successor is not None:
            return Finding(seq, "reordered", f"event {seq} ({row.kind}) is out of order: the event recorded "
                           f"after event {seq - 1} now stands at {successor}")
        if seq > 1 and links_to(row.prev_hash, self._prev_link):
            return Finding(seq - 1, "inserted", f"event {seq - 1} was inserted: event {seq} ({row.kind}) links "
                           f"to the event before it")
        if intact and (named is None or lookup.full_hash(named) is None):
            return Finding(seq - 1, "altered", f"event {seq - 1} was altered and its hash recomputed: event "
                           f"{seq} still links to its original hash")
        return Finding(seq, "missing", f"the event recorded after event {seq - 1} is missing (later events "
                       "were renumbered)")

    def _anchor_finding(self) -> Finding | None:
        for mark in self.marks:
            when = mark.anchor_at.isoformat()
            if mark.head_seq not in self._seen:
                first = min(self.count + 1, mark.head_seq)
                return Finding(first, "missing", f"event {mark.head_seq}, recorded as the ticket's head by "
                               f"anchor {mark.anchor_seq} at {when}, is gone: events from {first} were deleted")
            if self._seen[mark.head_seq] != mark.head_hash:
                return Finding(mark.head_seq, "rewritten", f"event {mark.head_seq} differs from what anchor "
                               f"{mark.anchor_seq} recorded at {when}: the history up to it was rewritten")
        return None


# -- anchors --------------------------------------------------------------------------------------
def entry_line(ticket_id: int, head_seq: int, head_hash: str) -> bytes:
    return f"{ticket_id}:{head_seq}:{head_hash}\n".encode()


def anchor_hash(seq: int, at: datetime, actor: str, tickets: int, entries_digest: str, prev_hash: str) -> str:
    fields = {"seq": seq, "at": at.isoformat(), "actor": actor, "tickets": tickets,
              "entries_digest": entries_digest, "prev_hash": prev_hash}
    return hashlib.sha256(canonical(fields)).hexdigest()


def entries_digest(lines: Iterable[tuple[int, int, str]]) -> tuple[int, str]:
    """(count, SHA-256) over an anchor's entries in ticket id order."""
    digest = hashlib.sha256()
    count = 0
    for ticket_id, head_seq, head_hash in lines:
        digest.update(entry_line(ticket_id, head_seq, head_hash))
        count += 1
    return count, digest.hexdigest()
