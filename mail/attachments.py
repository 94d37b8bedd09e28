"""Files that come with a message: a name safe to offer for download, and a type detected from the bytes.

The type comes from ``filetype`` (pure Python, no system library: it reads the magic numbers of images,
archives, documents, audio and video); a sender's Content-Type is never trusted. Text files have no magic
number: bytes that read as UTF-8 without control characters are ``text/plain``, anything else is
``application/octet-stream``.
"""
from __future__ import annotations

import re

import filetype

MAX_FILENAME = 255
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def detected_type(data: bytes) -> str:
    """The media type of ``data`` by its content."""
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "application/octet-stream" if _CONTROL.search(text) else "text/plain"


def safe_filename(name: str) -> str:
    """``name`` without any folder, control or reserved character, at most 255 characters; "attachment" if empty."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" ._")
    if not cleaned:
        return "attachment"
    stem, dot, suffix = cleaned.rpartition(".")
    if len(cleaned) > MAX_FILENAME and dot and len(suffix) < 20:
        return stem[: MAX_FILENAME - len(suffix) - 1] + "." + suffix
    return cleaned[:MAX_FILENAME]
