"""The request deadline in the engine's context, and the TICKETFLOW_REQUEST_TIMEOUT setting."""
from __future__ import annotations

import time

import pytest

from engine.context import begin_deadline, check_deadline, current_deadline, end_deadline, remaining_seconds
from engine.errors import DeadlineExceeded
from web.deadlines import DEFAULT_REQUEST_TIMEOUT, timeout_from_env


def test_outside_a_request_there_is_no_deadline_to_check() -> None:
    assert current_deadline() is None
    assert remaining_seconds() is None
    check_deadline()  # the worker and the CLI run without a limit


def test_a_deadline_counts_down_and_is_lifted_at_the_end() -> None:
    token = begin_deadline(5.0)
    try:
        left = remaining_seconds()
        assert left is not None and 4.0 < left <= 5.0
        check_deadline()
    finally:
        end_deadline(token)
    assert remaining_seconds() is None


def test_past_the_deadline_the_check_raises_in_plain_words() -> None:
    token = begin_deadline(0.01)
    try:
        time.sleep(0.02)
        left = remaining_seconds()
        assert left is not None and left <= 0
        with pytest.raises(DeadlineExceeded) as raised:
            check_deadline()
    finally:
        end_deadline(token)
    assert raised.value.detail == ("the request took longer than 0.01 s and was stopped; nothing was changed; "
                                   "try again")


@pytest.mark.parametrize(("raw", "seconds"), [
    (None, DEFAULT_REQUEST_TIMEOUT), ("", DEFAULT_REQUEST_TIMEOUT), ("12", 12.0), (" 2.5 ", 2.5), ("0", None),
    ("off", None), ("OFF", None),
])
def test_the_setting_reads_seconds_or_off(raw: str | None, seconds: float | None) -> None:
    environ = {} if raw is None else {"TICKETFLOW_REQUEST_TIMEOUT": raw}
    assert timeout_from_env(environ) == seconds


@pytest.mark.parametrize("raw", ["-1", "ten", "nan", "inf", "1e999", "0.0.1", "30s"])
def test_a_wrong_setting_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="TICKETFLOW_REQUEST_TIMEOUT") as refused:
        timeout_from_env({"TICKETFLOW_REQUEST_TIMEOUT": raw})
    assert repr(raw) in str(refused.value)


def test_the_web_settings_read_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from web.app import WebSettings

    monkeypatch.setenv("TICKETFLOW_REQUEST_TIMEOUT", "7.5")
    assert WebSettings.from_env().request_timeout == 7.5
    monkeypatch.setenv("TICKETFLOW_REQUEST_TIMEOUT", "off")
    assert WebSettings.from_env().request_timeout is None
    monkeypatch.setenv("TICKETFLOW_REQUEST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="TICKETFLOW_REQUEST_TIMEOUT"):
        WebSettings.from_env()
