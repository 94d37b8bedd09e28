"""Under gunicorn with several workers (``-c python:ticketflow.gunicorn``), a scrape of any worker adds up all of
them, an earlier run's counts are gone, and each worker logs JSON lines naming its requests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_gunicorn_problems import REPO, exchange, free_port

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


@pytest.fixture
def two_workers(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """(port, metrics directory, log file) of a gunicorn with two workers on loopback."""
    port, metrics, log_path = free_port(), tmp_path / "metrics", tmp_path / "gunicorn.log"
    metrics.mkdir()
    (metrics / "counter_999999999.db").write_bytes(b"an ended process's file, unreadable")
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": sqlite_url, "TICKETFLOW_SECRET_KEY": "test",
           "TICKETFLOW_VAR": str(tmp_path), "PYTHONPATH": str(REPO), "PROMETHEUS_MULTIPROC_DIR": str(metrics),
           "TICKETFLOW_LOG_FORMAT": "json"}
    command = [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:ticketflow.gunicorn",
               "-b", f"127.0.0.1:{port}", "--workers", "2", "ticketflow.wsgi:app"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if exchange(port, HEALTHZ)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
            yield port, metrics, log_path
        finally:
            server.terminate()
            server.wait(timeout=10)


def healthz_count(port: int) -> float:
    status, _, body = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200, body[:500]
    return sum(sample.value for family in text_string_to_metric_families(body.decode())
               for sample in family.samples
               if sample.name == "ticketflow_http_requests_total" and sample.labels["route"] == "/healthz")


def test_any_worker_reports_the_requests_of_all_of_them(two_workers: tuple[int, Path, Path]) -> None:
    port, metrics, log_path = two_workers
    before = healthz_count(port)
    for _ in range(30):
        assert exchange(port, HEALTHZ)[0] == 200
    assert healthz_count(port) - before == 30
    assert not (metrics / "counter_999999999.db").exists()
    # End every worker that counted a request: whoever answers the next scrapes answered none of them.
    counted = {int(path.stem.split("_")[1]) for path in metrics.glob("counter_*.db")}
    for pid in counted:
        os.kill(pid, signal.SIGQUIT)  # gunicorn: stop at once
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in counted) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [healthz_count(port) - before for _ in range(3)] == [30.0] * 3
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    answered = [line for line in lines if line["logger"] == "ticketflow.http" and line["route"] == "/healthz"]
    assert len(answered) >= 31 and all(len(line["request_id"]) == 16 for line in answered)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
