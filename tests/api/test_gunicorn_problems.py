"""gunicorn's own refusals (a request line or header fields too long, an unreadable request) reach the
client as problem+json like every other API error, from a real gunicorn on loopback."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` as it is; return the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@contextmanager
def gunicorn(sqlite_url: str, tmp_path: Path, **settings: str) -> Iterator[int]:
    """A real gunicorn with ticketflow's thread worker on a free loopback port; ``settings`` are environment."""
    port = free_port()
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": sqlite_url, "TICKETFLOW_SECRET_KEY": "test",
           "TICKETFLOW_VAR": str(tmp_path), "PYTHONPATH": str(REPO), **settings}
    command = [str(Path(sys.executable).with_name("gunicorn")), "-b", f"127.0.0.1:{port}", "--workers", "1",
               "-k", "ticketflow.gunicorn.ProblemThreadWorker", "--threads", "2", "ticketflow.wsgi:app"]
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()[-2000:]}")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


@pytest.fixture
def gunicorn_port(sqlite_url: str, tmp_path: Path) -> Iterator[int]:
    with gunicorn(sqlite_url, tmp_path) as port:
        yield port


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /api/v1/tickets?q=" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"NOT A REQUEST\r\n\r\n", 400),
])
def test_gunicorn_refusals_are_problems_not_html(gunicorn_port: int, request_bytes: bytes, status: int) -> None:
    answered, headers, body = exchange(gunicorn_port, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert b"<html" not in body.lower()


def answer_on(conn: socket.socket) -> tuple[int, dict[str, str]]:
    """Read one answer (head and Content-Length body) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(fields.get("content-length", "0")):
        body += conn.recv(65536)
    return int(lines[0].split()[1]), fields


def test_a_connection_refused_429_is_not_read_again_before_its_retry_after(sqlite_url: str, tmp_path: Path) -> None:
    # A caller that ignores Retry-After and sends again at once on the same connection waits for its answer until
    # then, without holding a worker thread: another connection is served meanwhile. Its request is not lost.
    listing = b"GET /api/v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n"  # no credential: the address's bucket
    with gunicorn(sqlite_url, tmp_path, TICKETFLOW_RATE_LIMIT="1", TICKETFLOW_RATE_BURST="1") as port, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as flood:
        flood.sendall(listing)
        assert answer_on(flood)[0] == 401  # the one request the bucket held
        flood.sendall(listing)
        status, fields = answer_on(flood)
        assert status == 429 and fields["retry-after"] == "1"
        refused_at = time.monotonic()
        flood.sendall(listing)  # at once, ignoring Retry-After
        with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer_on(other)[0] == 200
            assert time.monotonic() - refused_at < 0.5  # served while the flood's connection waits
        status, _ = answer_on(flood)
        assert time.monotonic() - refused_at >= 0.9  # answered only once its Retry-After had passed
        assert status in (401, 429)
