"""The command line as a newcomer meets it: what it says it did, and where the demo plays."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from engine.store.db import make_engine
from ticketflow.cli import main


def test_db_upgrade_names_each_migration_it_applies_then_says_there_was_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert main(["db", "upgrade"]) == 0
    first = capsys.readouterr().out
    assert "applied 0001: Initial schema" in first and "applied 0004" in first and "is now up to date" in first
    assert main(["db", "upgrade"]) == 0
    second = capsys.readouterr().out
    assert "applied" not in second.replace("nothing to apply", "") and "already up to date" in second


def test_worker_once_says_there_was_nothing_to_do(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["worker", "--once"]) == 0  # the first round anchors (the day's anchor is due)
    capsys.readouterr()
    assert main(["worker", "--once"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to do: no timer due, no stalled ticket, no anchor due"


def test_demo_plays_in_its_own_database_never_in_the_served_one(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    demo_db = tmp_path / "demo.db"
    for _ in range(2):  # made afresh each time: the second run starts again at T-000001
        assert main(["demo", "--database", f"sqlite:///{demo_db}"]) == 0
        out = capsys.readouterr().out
        assert "T-000001" in out and "T-000005" not in out
    served = make_engine(sqlite_url)
    with served.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM ticket").scalar() == 0
        assert connection.exec_driver_sql("SELECT count(*) FROM process_definition").scalar() == 0
    assert "ticket" in inspect(make_engine(f"sqlite:///{demo_db}")).get_table_names()
    served.dispose()


def test_every_positional_argument_is_described(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["deploy"], ["check-bpmn"], ["kb", "import"], ["user", "add"], ["user", "token"], ["replay"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        help_text = capsys.readouterr().out
        positional = help_text.split("positional arguments:")[1].split("options:")[0]
        for line in positional.strip().splitlines():
            assert len(line.split(None, 1)) == 2, f"{' '.join(command)}: '{line.strip()}' has no description"


def test_a_refused_input_names_each_field_and_why(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["webhooks", "add", "ftp://example.com/hook", "--events", "ticket.opened"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "\n  url: " in error


def test_serve_says_first_that_email_is_held_when_no_smtp_server_is_configured(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import ticketflow.serve
    from ticketflow.composition import EMAIL_HELD

    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    monkeypatch.delenv("TICKETFLOW_SMTP_URL", raising=False)
    monkeypatch.setattr(ticketflow.serve, "serve", lambda *args, **kwargs: None)  # not the server itself
    assert main(["serve", "--demo-users"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == EMAIL_HELD
    monkeypatch.setenv("TICKETFLOW_SMTP_URL", "smtp://127.0.0.1:2525")
    assert main(["serve"]) == 0
    assert EMAIL_HELD not in capsys.readouterr().out
