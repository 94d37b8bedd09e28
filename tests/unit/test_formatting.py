"""Times, durations and relevance as people read them (web/formatting.py): the viewer's zone named,
DST both ways, relative words, ISO durations in words, never microseconds."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from web.formatting import duration, local_time, relative, relevance, zone

NOON = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


def test_a_time_is_shown_in_the_viewers_zone_with_the_zone_named_and_no_seconds() -> None:
    assert local_time(NOON, zone("UTC")) == "2026-03-02 12:00 UTC"
    assert local_time(NOON, zone("Europe/Lisbon")) == "2026-03-02 12:00 WET"
    assert local_time(NOON, zone("America/New_York")) == "2026-03-02 07:00 EST"
    assert local_time(NOON.isoformat(), zone("Asia/Kolkata")) == "2026-03-02 17:30 IST"  # process data keeps text
    assert "123456" not in local_time(NOON, zone("UTC")) and ":00:00" not in local_time(NOON, zone("UTC"))


def test_daylight_saving_time_moves_the_clock_and_the_zones_name_both_ways() -> None:
    berlin = zone("Europe/Berlin")
    # 2026-03-29 01:00 UTC the clocks go from 02:00 CET to 03:00 CEST.
    assert local_time(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), berlin) == "2026-03-29 01:30 CET"
    assert local_time(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), berlin) == "2026-03-29 03:30 CEST"
    # 2026-10-25 01:00 UTC they go back: 02:30 happens twice, told apart by the zone's name.
    assert local_time(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), berlin) == "2026-10-25 02:30 CEST"
    assert local_time(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), berlin) == "2026-10-25 02:30 CET"
    sydney = zone("Australia/Sydney")  # the southern summer: DST ends in April
    assert local_time(datetime(2026, 1, 10, 0, 0, tzinfo=UTC), sydney) == "2026-01-10 11:00 AEDT"
    assert local_time(datetime(2026, 7, 10, 0, 0, tzinfo=UTC), sydney) == "2026-07-10 10:00 AEST"


def test_an_unknown_or_missing_zone_is_utc_and_a_naive_time_is_utc() -> None:
    assert zone("Mars/Olympus_Mons").key == "UTC" and zone(None).key == "UTC" and zone("../etc").key == "UTC"
    assert local_time(datetime(2026, 3, 2, 9, 0), zone("Europe/Paris")) == "2026-03-02 10:00 CET"
    assert local_time(None, zone("UTC")) == "—" and local_time("not a time", zone("UTC")) == "—"


def test_relative_times_say_in_or_ago() -> None:
    assert relative(NOON + timedelta(hours=3), NOON) == "in 3 hours"
    assert relative(NOON - timedelta(days=2), NOON) == "2 days ago"
    assert relative(NOON - timedelta(minutes=20), NOON) == "20 minutes ago"
    assert relative(NOON + timedelta(seconds=20), NOON) == "just now"
    assert relative(None, NOON) == ""


def test_durations_are_words() -> None:
    assert duration("P3D") == "3 days"
    assert duration("PT4H") == "4 hours"
    assert duration("PT1H30M") == "1 hour and 30 minutes"
    assert duration("P1DT4H") == "1 day and 4 hours"
    assert duration("PT23H") == "23 hours"  # not rounded up to a day
    assert duration(timedelta(minutes=90, microseconds=5)) == "1 hour and 30 minutes"
    assert duration(45.5) == "less than a minute"
    assert duration(None) == "—"
    assert duration("tomorrow") == "tomorrow"  # not a duration: shown as written


def test_knowledge_base_relevance_is_words_never_a_score() -> None:
    assert relevance({"relevance": "matches all your words"}) == "matches all your words"
    assert relevance({"score": 9.4166}, best=9.4166) == "strong match"
    assert relevance({"score": 5.0}, best=9.4166) == "good match"
    assert relevance({"score": 1.2}, best=9.4166) == "weak match"
    assert "9.4" not in relevance({"score": 9.4166})
