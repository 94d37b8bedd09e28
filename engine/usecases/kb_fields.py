"""A knowledge article's fields: the API's schemas and the checks shared by the import, the API and the pages."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

STATES = ("draft", "in_review", "published", "archived")
CONTENT = ("title", "problem", "environment", "cause", "resolution", "tags")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_TEXT = {"title": 300, "problem": 20_000, "environment": 2_000, "cause": 20_000, "resolution": 100_000,
         "tags": 500, "body": 100_000, "keywords": 500}
# The KCS fields, then the pre-KCS ones still accepted: body (the resolution), keywords (tags), published.
KNOWN = {"slug", *CONTENT, "state", "review_by", "body", "keywords", "published"}


def _text(limit: int, least: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": least, "maxLength": limit}


# The API's contract for a new article (also published in /openapi.json).
ARTICLE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["slug", "title"],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
        "title": _text(300, 1), "problem": _text(20_000), "environment": _text(2_000), "cause": _text(20_000),
        "resolution": _text(100_000), "tags": _text(500),
        "state": {"type": "string", "enum": ["draft", "published"]},
        "body": _text(100_000, 1), "keywords": _text(500), "published": {"type": "boolean"},
        "review_by": {"type": ["string", "null"], "format": "date-time"},
    },
}
# An edit: any of the content fields, and why (kept with the version).
EDIT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "title": _text(300, 1), "problem": _text(20_000), "environment": _text(2_000), "cause": _text(20_000),
        "resolution": _text(100_000), "tags": _text(500), "note": _text(500),
    },
}


def content_of(article: Any) -> dict[str, str]:
    """The versioned content of an article (or of one of its versions)."""
    return {key: getattr(article, key) for key in CONTENT}


def article_fields(item: Any, index: int) -> dict[str, Any]:
    """The columns of one article, checked; ValueError names the article and the field."""
    if not isinstance(item, dict):
        raise ValueError(f"article {index}: expected an object")
    unknown = set(item) - KNOWN
    if unknown:
        raise ValueError(f"article {index}: unknown field(s) {sorted(unknown)}")
    for key in ("slug", "title"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise ValueError(f"article {index}: '{key}' must be a non-empty string")
    if not _SLUG.match(item["slug"].strip()):
        raise ValueError(f"article {index}: 'slug' must be 1-64 lower-case letters, digits or hyphens")
    for key, limit in _TEXT.items():
        if not isinstance(item.get(key, ""), str):
            raise ValueError(f"article {index}: '{key}' must be a string")
        if len(item.get(key, "")) > limit:
            raise ValueError(f"article {index}: '{key}' is longer than {limit} characters")
    resolution = (item.get("resolution") or item.get("body") or "").strip()
    if not resolution:
        raise ValueError(f"article {index}: 'resolution' (or the older 'body') must be a non-empty string")
    state = _state(item, index)
    return {"slug": item["slug"].strip(), "title": item["title"].strip(), "problem": item.get("problem", ""),
            "environment": item.get("environment", ""), "cause": item.get("cause", ""), "resolution": resolution,
            "tags": item.get("tags") or item.get("keywords", ""), "state": state, "published": state == "published",
            "review_by": _review_date(item.get("review_by"), index)}


def _state(item: dict[str, Any], index: int) -> str:
    if "published" in item and not isinstance(item["published"], bool):
        raise ValueError(f"article {index}: 'published' must be true or false")
    state = item.get("state", "published" if item.get("published") else "draft")
    if state not in STATES:
        raise ValueError(f"article {index}: 'state' must be one of {', '.join(STATES)}")
    return str(state)


def _review_date(value: Any, index: int) -> datetime | None:
    """An article's review date: an ISO 8601 date-time with its offset, or nothing."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"article {index}: review_by must be an ISO 8601 date-time string")
    try:
        review = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"article {index}: review_by must be an ISO 8601 date-time") from None
    if review.tzinfo is None:
        raise ValueError(f"article {index}: review_by needs a timezone offset")
    return review

