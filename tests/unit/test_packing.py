"""Packed history data: what goes in comes out byte for byte, small data stays plain, and the dictionary the
stored rows depend on never changes."""
from __future__ import annotations

import hashlib
import random
import string
from pathlib import Path

import pytest

from engine.store import packing
from engine.store.history import canonical

# Every packed row ever written depends on these bytes; a different dictionary is a new number, never an edit.
PINNED = {1: "a3e08b3c02c7f8d8465a9bcd1026ab95c08194b80dd8049f78c063a8205ae291"}


def test_every_dictionary_is_pinned_and_unchanged() -> None:
    assert set(packing.DICTIONARIES) == set(PINNED)
    for number, name in packing.DICTIONARIES.items():
        words = (Path(packing.__file__).parent / name).read_bytes()
        assert hashlib.sha256(words).hexdigest() == PINNED[number], f"{name} changed: stored rows depend on it"


@pytest.mark.parametrize("data", [
    {"form": {"assessment": "Die Drucker-Firmware ist fehlerhaft: ünïcödé, emoji \U0001F5A8, \"quotes\" \\ "}},
    {"body": "Hello,\n\nwe have registered your request as ticket T-123456.\n" * 3, "message_id": 7},
    {"data_digest": {"subject": "0123456789abcdef", "gone": None}, "n": 1.5, "ok": True, "list": [1, [2, {}]]},
])
def test_packed_data_unpacks_to_the_same_canonical_json(data: dict) -> None:
    text = canonical(data).decode()
    stored, packed = packing.stored_data(text)
    assert stored == "null" and packed is not None and len(packed) < len(text.encode())
    assert packing.unpack(packed) == text
    assert packing.event_data(None, packed) == data


def test_data_too_small_to_shrink_is_stored_as_it_is() -> None:
    for data in ({}, {"a": 1}, {"article": "x"}):
        text = canonical(data).decode()
        assert packing.stored_data(text) == (text, None)
        assert packing.event_data(data, None) == data
    noise = random.Random(7)  # short, dense text: a frame is often no smaller, and then it is not used
    texts = [canonical({"k": "".join(noise.choice(string.printable[:94]) for _ in range(30))}).decode()
             for _ in range(50)]
    packed = [packing.pack(text) for text in texts]
    assert all(p is None or len(p) < len(t.encode()) for p, t in zip(packed, texts, strict=True))
    assert any(p is None for p in packed)


def test_the_stored_json_wins_over_packed_bytes_so_an_edit_to_it_shows() -> None:
    _, packed = packing.stored_data(canonical({"form": {"type": "incident", "impact": "high"}}).decode())
    assert packed is not None
    assert packing.event_data({"form": {"type": "request"}}, packed) == {"form": {"type": "request"}}


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda p: bytes((9,)) + p[1:], "ValueError"),  # a dictionary this version does not know
    (lambda p: p[:1] + p[1:4] + bytes(b ^ 0x5A for b in p[4:]), ""),  # scrambled frame
    (lambda p: p[: len(p) // 2], ""),  # cut short
])
def test_packed_bytes_that_do_not_unpack_read_as_a_note_not_a_crash(damage, reason: str) -> None:
    _, packed = packing.stored_data(canonical({"form": {"assessment": "A long enough sentence to pack."}}).decode())
    assert packed is not None
    data = packing.event_data(None, damage(packed))
    assert set(data) == {"unreadable_packed_data"} and reason in data["unreadable_packed_data"]


def test_packing_is_safe_from_many_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [canonical({"form": {"notes": f"Thread note number {i} " * 5}}).decode() for i in range(200)]

    def round_trip(text: str) -> bool:
        stored, packed = packing.stored_data(text)
        return packed is not None and packing.unpack(packed) == text

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(round_trip, texts))
