"""`ticketflow unit load | show`: the documented example loads, and each kind of bad file is refused by line,
changing nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import EngineConfig
from engine.usecases.units import UnitAdmin
from ticketflow.cli import main
from ticketflow.composition import make_runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "units.example.toml"


def unit_count(url: str) -> list[tuple[str, int]]:
    runtime = make_runtime(EngineConfig(database_url=url))
    try:
        admin = UnitAdmin(runtime)
        return [(doc["code"], admin.unit(doc["code"])[1]) for doc in admin.list_units()]
    finally:
        runtime.close()


def test_the_documented_example_loads_and_shows_readably(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["unit", "load", str(EXAMPLE)]) == 0
    assert "unit emea-support loaded" in capsys.readouterr().out
    assert main(["unit", "show", "emea-support"]) == 0
    shown = capsys.readouterr().out
    assert "Europe/Berlin" in shown and "08:00-12:30 and 13:30-17:30" in shown
    assert "public holidays of DE-BY" in shown and "24x7" in shown
    assert "after 2 unanswered reminder(s)" in shown
    assert main(["unit", "show", "general"]) == 0
    assert "P1             PT1H / PT4H, 24x7" in capsys.readouterr().out


def test_an_icalendar_file_beside_the_unit_file_is_read_into_the_unit(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    (tmp_path / "closures.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//EN\nBEGIN:VEVENT\nUID:1\nDTSTAMP:20260101T000000Z\n"
        "DTSTART;VALUE=DATE:20261231\nSUMMARY:Closed\nEND:VEVENT\nEND:VCALENDAR\n")
    text = EXAMPLE.read_text().replace('# calendar_file = "closures.ics"', 'calendar_file = "closures.ics"')
    (tmp_path / "unit.toml").write_text(text)
    assert main(["unit", "load", str(tmp_path / "unit.toml")]) == 0
    runtime = make_runtime(EngineConfig(database_url=sqlite_url))
    try:
        doc, _ = UnitAdmin(runtime).unit("emea-support")
    finally:
        runtime.close()
    assert "DTSTART;VALUE=DATE:20261231" in doc["holidays"]["calendar"]


@pytest.mark.parametrize(("old", "new", "line", "where", "message"), [
    ('time_zone = "Europe/Berlin"', 'time_zone = "Europe/Atlantis"', 7, "time_zone", "not a known IANA time zone"),
    ('mon = ["08:00-12:30", "13:30-17:30"]', 'mon = ["08:00-12:30", "12:00-17:30"]', 20, "hours.mon", "overlap"),
    ('fri = ["08:00-14:00"]', 'fri = ["14:00-08:00"]', 24, "hours.fri", "ends before it starts"),
    ('resolution = "P1D"', 'resolution = "one day"', 45, "targets.P2.resolution", "not an ISO 8601 duration"),
    ("[targets.P5]", "[targets.P9]", 55, "targets.P9", "unknown priority"),
    ('country = "DE"', 'country = "XX"', 30, "holidays.country", "not a country"),
    ("follow_up_after = 2 ", "follow_up_after = 0 ", 15, "follow_up_after", "whole number of reminders"),
])
def test_a_bad_unit_file_is_refused_naming_the_line_and_changes_nothing(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        old: str, new: str, line: int, where: str, message: str) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["unit", "load", str(EXAMPLE)]) == 0
    before = unit_count(sqlite_url)
    text = EXAMPLE.read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    capsys.readouterr()
    assert main(["unit", "load", str(bad)]) == 1
    error = capsys.readouterr().err
    assert f"line {line} of {bad}, {where}: " in error and message in error, error
    assert "was not changed" in error
    assert unit_count(sqlite_url) == before


def test_a_file_that_is_not_toml_is_refused_with_its_line(sqlite_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    before = unit_count(sqlite_url)
    bad = tmp_path / "bad.toml"
    bad.write_text('code = "x"\nname = \n')
    assert main(["unit", "load", str(bad)]) == 1
    assert "not valid TOML" in (err := capsys.readouterr().err) and "line 2" in err
    assert unit_count(sqlite_url) == before
