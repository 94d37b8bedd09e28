"""Times, durations and relevance as people read them: in the viewer's time zone with the zone named,
relative where it helps ("in 3 hours", "2 days ago"), durations in words ("3 days"), never microseconds.

Babel words the durations (its CLDR data knows plurals and "in"/"ago" for us); zoneinfo does the time
zone arithmetic, DST included. The functions are pure; ``install`` registers them as Jinja filters that
read the viewer's zone and the runtime's clock per request.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_timedelta
from babel.lists import format_list
from flask import Blueprint, g

from engine.execution.business_time import parse_duration

LOCALE = "en"
TIME_FORMAT = "%Y-%m-%d %H:%M"
NOTHING = "—"
# A KB match's share of the best match's score, and the word for it (old tickets kept raw scores).
RELEVANCE_WORDS = ((0.8, "strong match"), (0.5, "good match"), (0.0, "weak match"))


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name``; UTC when it is empty or unknown (a page must render whatever was stored)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def as_time(value: datetime | str | None) -> datetime | None:
    """A datetime from a datetime or an ISO 8601 string (process data keeps times as text); naive is UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_time(value: datetime | str | None, where: ZoneInfo) -> str:
    """``2026-03-02 10:00 CET``: minutes, in the viewer's zone, named by its abbreviation."""
    moment = as_time(value)
    if moment is None:
        return NOTHING
    local = moment.astimezone(where)
    return f"{local.strftime(TIME_FORMAT)} {local.tzname() or where.key}"


def relative(value: datetime | str | None, now: datetime) -> str:
    """``in 3 hours`` or ``2 days ago``, rounded to the largest unit that reads well."""
    moment = as_time(value)
    if moment is None:
        return ""
    delta = moment - now
    if abs(delta) < timedelta(minutes=1):
        return "just now"
    return str(format_timedelta(delta, add_direction=True, locale=LOCALE))


def duration(value: str | timedelta | float | None) -> str:
    """A duration in words: ``P3D`` -> "3 days", ``PT1H30M`` -> "1 hour and 30 minutes"; seconds too."""
    if isinstance(value, str):
        try:
            parsed = parse_duration(value)
        except ValueError:
            return value  # not a duration after all: show it as written
        span = parsed.total()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        span = timedelta(seconds=value)
    elif isinstance(value, timedelta):
        span = value
    else:
        return NOTHING
    return _span_words(span)


def _span_words(span: timedelta) -> str:
    total = int(abs(span).total_seconds()) // 60 * 60  # minutes are the finest a person needs
    if total == 0:
        return "less than a minute"
    days, rest = divmod(total, 86400)
    parts = (timedelta(days=days), timedelta(seconds=rest - rest % 3600), timedelta(seconds=rest % 3600))
    # threshold=1 keeps each part exact ("23 hours", not "1 day"); weeks read fine for whole weeks.
    words = [str(format_timedelta(part, threshold=1, locale=LOCALE)) for part in parts if part]
    return str(format_list(words, locale=LOCALE))


def relevance(match: Mapping[str, Any], best: float | None = None) -> str:
    """A knowledge-base match's relevance in words: the words search gave it, else its score against the best."""
    words = match.get("relevance")
    if isinstance(words, str) and words:
        return words
    score = match.get("score")
    if not isinstance(score, (int, float)) or not best:
        return "match"
    share = score / best
    return next(word for floor, word in RELEVANCE_WORDS if share >= floor)


def install(blueprint: Blueprint, viewer_zone: Callable[[], ZoneInfo], now: Callable[[], datetime]) -> None:
    """Register the filters on ``blueprint``'s app: ``when``, ``ago``, ``when_ago``, ``duration``, ``relevance``."""

    def here() -> ZoneInfo:
        if "viewer_zone" not in g:
            g.viewer_zone = viewer_zone()
        found: ZoneInfo = g.viewer_zone
        return found

    blueprint.add_app_template_filter(lambda value: local_time(value, here()), "when")
    blueprint.add_app_template_filter(lambda value: relative(value, now()), "ago")
    blueprint.add_app_template_filter(lambda value: _when_ago(value, here(), now()), "when_ago")
    blueprint.add_app_template_filter(duration, "duration")
    blueprint.add_app_template_filter(relevance, "relevance")
    blueprint.add_app_template_global(lambda: here().key, "viewer_zone_name")


def _when_ago(value: datetime | str | None, where: ZoneInfo, now: datetime) -> str:
    """``2026-03-02 13:00 UTC (in 3 hours)``."""
    shown = local_time(value, where)
    said = relative(value, now)
    return f"{shown} ({said})" if said else shown
