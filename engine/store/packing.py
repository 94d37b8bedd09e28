"""History event data, packed: Zstandard with a dictionary of the words events usually carry.

An event's data is small JSON (a form, a service call, an email's words) that repeats across tickets: the same
keys, operators, gateways and email templates, with a ticket's own words in between. Each event alone is too
small for a compressor to find that repetition, so every event is compressed against the same dictionary:
``history_words_v1.txt``, plain JSON lines of the data of one ticket down each path of the bundled diagram, with
sample words unlike any real ticket's. An L1-direct ticket's event data shrinks from about 5.5 KB to under 2 KB.

Zstandard (the ``zstandard`` bindings of the reference C library) rather than zlib: its dictionary is precomputed
once, so packing an event takes 7-15 us (by level), where zlib, which re-reads its dictionary every time, took
25-40 us.

The stored form is ``packed``: one byte naming the dictionary, then a magic-less Zstandard frame. Rows written
before packing, and events that would not shrink, keep their JSON in ``data`` (``packed`` is NULL). The hash
still covers the canonical JSON (``engine.store.history``), so packing changes nothing an auditor checks.

Stored rows depend on the dictionary's exact bytes: it never changes (``tests/unit/test_packing.py`` pins it).
Better words for a changed diagram go in a new file with the next number, beside this one.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import zstandard

DICTIONARIES = {1: "history_words_v1.txt"}
CURRENT = 1
LEVEL = 9  # an L1-direct ticket's 29 events: level 3 packs to 1.90 KB at 7 us an event, 9 to 1.73 KB at 15 us
SHORTEST = 24  # data this short (``{}``, an article's name) is stored as it is: a frame would not be smaller


def _dictionary(number: int) -> zstandard.ZstdCompressionDict:
    words = Path(__file__).with_name(DICTIONARIES[number]).read_bytes()
    return zstandard.ZstdCompressionDict(words, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


_WORDS = {number: _dictionary(number) for number in DICTIONARIES}
_WORDS[CURRENT].precompute_compress(level=LEVEL)
_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(
    LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=1, write_checksum=0, write_dict_id=0)


class _Codecs(threading.local):
    """A compressor and decompressors per thread: the library's are not safe to share between threads."""

    def __init__(self) -> None:
        self.packer = zstandard.ZstdCompressor(dict_data=_WORDS[CURRENT], compression_params=_PARAMETERS)
        self.unpackers = {number: zstandard.ZstdDecompressor(dict_data=words, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
                          for number, words in _WORDS.items()}


_codecs = _Codecs()


def pack(data_json: str) -> bytes | None:
    """``data_json`` packed, or None when it is better stored as it is."""
    if len(data_json) < SHORTEST:
        return None
    plain = data_json.encode()
    packed = bytes((CURRENT,)) + _codecs.packer.compress(plain)
    return packed if len(packed) < len(plain) else None


def unpack(packed: bytes) -> str:
    """The canonical JSON ``pack`` was given."""
    unpacker = _codecs.unpackers.get(packed[0])
    if unpacker is None:
        raise ValueError(f"history data packed with dictionary {packed[0]}, which this version does not know")
    return unpacker.decompress(bytes(packed[1:])).decode()  # type: ignore[no-any-return]


def stored_data(data_json: str) -> tuple[str, bytes | None]:
    """What an event's ``data`` and ``packed`` columns hold for ``data_json``: JSON ``null`` beside the packed
    form, or the JSON itself and no packed form."""
    packed = pack(data_json)
    return ("null", packed) if packed is not None else (data_json, None)


def event_data(data: Any, packed: bytes | None) -> Any:
    """An event's data from its two columns (``data`` already decoded from JSON).

    ``data`` wins unless it is JSON null, and packed bytes that do not unpack read as a note saying so: either
    way an edit to a row reads as what the edit made, and its hash no longer matches (``engine.audit``).
    """
    if packed is None or data is not None:
        return data
    try:
        return json.loads(unpack(packed))
    except (ValueError, zstandard.ZstdError) as exc:  # JSON, UTF-8 and unknown dictionaries raise ValueError
        return {"unreadable_packed_data": f"{type(exc).__name__}: {exc}"}
