"""Fixtures of the integration tests beyond the shared ones in tests/conftest.py."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.mail_sink import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    server = SmtpSink()
    server.start()
    yield server
    server.stop()
