"""Benchmark: what the HTTP layer costs on top of raw SpiffWorkflow, in process and over loopback.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.api        (or: .venv/bin/python bench/api.py)

One run (about half a minute) prints, side by side:

1. Lifecycles per second. The L1-direct path (open, classify, assess (resolved at first level),
   apply solution, customer confirms resolved -> closed) driven three ways:
   - raw SpiffWorkflow in memory: ``RawDriver`` from ``bench/engine.py``, the floor;
   - the Flask app in process, through its test client (``create_app`` over a runtime on SQLite);
   - a real gunicorn on 127.0.0.1 (random free port) serving ``web.wsgi:app`` on its own SQLite
     database, called with ``http.client`` over one keep-alive connection.
   An HTTP lifecycle is what the people of the procedure send, one request at a time: the customer
   opens the ticket; for each of L1's three tasks, L1 lists its tasks, reads the task, claims it and
   completes it; the customer reads their ticket, reads the validation task and answers it. That is
   16 requests, each authenticated with a bearer token, with the JSON bodies parsed on both sides.
   Rounds of raw, in-process and gunicorn lifecycles alternate, so all three see the same machine
   load. Target (DESIGN.md): HTTP over SQLite within 6x of the raw floor, time per lifecycle.
   For orientation, the report also gives the share of the 5 requests that do what the raw path
   does (open and the 4 completions); the verdict is on the whole lifecycle.
2. Latency per request kind: p50 and p95 of the wall time the client waits for each request
   (open ticket, task list, task detail, claim, complete per task kind, ticket), over every request
   of the measured rounds. Target (DESIGN.md): completing a user task over HTTP on SQLite, p50
   under 11 ms.

Gunicorn runs one worker process with threads (gthread). One process because on SQLite the
embedded deployment is one serving process (DESIGN.md: one writer at a time anyway) and it is the
setup the DESIGN's reference figure uses ("one worker"); a second process would only split the
definition cache and the connection pool, since this client sends one request at a time. Threads
because gunicorn's sync worker closes the connection after every response, while gthread keeps it
alive, as a browser or an API client would. Both databases, the secret key and ``TICKETFLOW_VAR`` live
in a temporary directory; gunicorn is stopped at the end, also when the run fails.

Timings use ``time.perf_counter``; lifecycle figures are medians over rounds, after a warm-up of
every driver. The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import (  # noqa: E402
    ACTORS, INTAKE, L1_DIRECT, RAW_PER_ROUND, RAW_WARMUP, REPO_ROOT, Rate, RawDriver, Step, Workload,
    ensure_repo_importable, header, measure_interleaved, verdict,
)

HTTP_TARGET = 6.0  # HTTP time per lifecycle / raw time per lifecycle
COMPLETE_P50_TARGET_MS = 11.0

ROUNDS = 11  # alternating rounds of raw, in-process and gunicorn lifecycles
HTTP_WARMUP, HTTP_PER_ROUND = 5, 15
GUNICORN_THREADS = 2
STARTUP_TIMEOUT = 30.0  # seconds for gunicorn to answer /healthz
SECRET_KEY = "bench-secret-key"
DEMO_KB = REPO_ROOT / "web" / "data" / "demo_kb.json"
KINDS = ["open ticket", "get task list", "get task detail", "claim"] + [
    f"complete {step.element}" for step in L1_DIRECT] + ["get ticket"]
ALL_COMPLETES = "complete, all user tasks"


# -- two ways to send a request -------------------------------------------------------------------
class Transport(Protocol):
    def send(self, method: str, path: str, token: str, body: Any | None) -> tuple[int, Any]: ...


class FlaskClientTransport:
    """The Flask app in this process, through its test client: WSGI without a socket."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def send(self, method: str, path: str, token: str, body: Any | None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body,
                                    headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json(silent=True)


class LoopbackTransport:
    """A real HTTP/1.1 client on one keep-alive connection to the server on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method: str, path: str, token: str, body: Any | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server dropped the idle connection before reading the request: resend it once.
            self.conn.close()
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


# -- the lifecycle over HTTP ----------------------------------------------------------------------
class HttpDriver:
    """Plays the L1-direct path through a transport, timing every request by its kind."""

    def __init__(self, transport: Transport, tokens: dict[str, str]) -> None:
        self.transport = transport
        self.tokens = tokens  # key into ACTORS -> bearer token
        self.samples: dict[str, list[float]] = defaultdict(list)  # kind -> ms per request

    def call(self, kind: str, method: str, path: str, actor: str, body: Any | None = None,
             expect: int = 200) -> Any:
        began = time.perf_counter()
        status, document = self.transport.send(method, path, self.tokens[actor], body)
        self.samples[kind].append((time.perf_counter() - began) * 1000.0)
        if status != expect:
            raise RuntimeError(f"{method} {path} as {actor}: {status}, expected {expect}: {document}")
        return document

    def lifecycle(self) -> None:
        intake = {"subject": INTAKE["subject"], "description": INTAKE["description"]}
        ticket = self.call("open ticket", "POST", "/api/v1/tickets", "customer", intake, expect=201)
        for step in L1_DIRECT:
            task = self.find_task(ticket["number"], step)
            self.call("get task detail", "GET", task["href"], step.actor)
            if step.actor != "customer":  # agents claim before they work; the customer just answers
                self.call("claim", "POST", f"{task['href']}/claim", step.actor)
            ticket = self.call(f"complete {step.element}", "POST", f"{task['href']}/complete", step.actor,
                               step.form)
        if ticket["status"] != "closed":
            raise RuntimeError(f"{ticket['number']} ended {ticket['status']}, not closed")

    def find_task(self, number: str, step: Step) -> dict[str, Any]:
        """The step's task as its worker finds it: an agent in their task list, the customer on the ticket."""
        if step.actor == "customer":
            tasks = self.call("get ticket", "GET", f"/api/v1/tickets/{number}", step.actor)["ready_tasks"]
        else:
            tasks = self.call("get task list", "GET", "/api/v1/tasks", step.actor)["items"]
        mine = [t for t in tasks if t["ticket"] == number]
        if len(mine) != 1 or mine[0]["element_id"] != step.element:
            raise RuntimeError(f"{number}: expected {step.element} ready, found {mine}")
        return mine[0]

    def warm_up(self, lifecycles: int) -> None:
        for _ in range(lifecycles):
            self.lifecycle()
        self.samples.clear()


# -- databases and the server ---------------------------------------------------------------------
def prepare_database(url: str) -> tuple[Any, dict[str, str]]:
    """Migrate, deploy the bundled diagram, load the demo KB, add the users; return (runtime, tokens)."""
    from engine.config import EngineConfig
    from engine.store.db import upgrade
    from engine.users import Directory
    from web.composition import deploy_file, make_runtime
    from web.knowledge import import_kb_file

    upgrade(url)
    runtime = make_runtime(EngineConfig(database_url=url))
    deploy_file(runtime)
    import_kb_file(runtime, DEMO_KB)
    directory = Directory(runtime.sessions, runtime.clock)
    email = INTAKE["contact"]["email"]
    tokens = {key: directory.add_user(name, role, email if role == "customer" else None)[1]
              for key, (name, role) in ACTORS.items()}
    return runtime, tokens


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=2)) as conn:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer /healthz within {STARTUP_TIMEOUT:.0f}s:\n"
                       f"{log.read_text()[-2000:]}")


@contextmanager
def gunicorn_server(folder: Path, url: str) -> Iterator[int]:
    """gunicorn serving ``web.wsgi:app`` on a free loopback port; yields the port, always stops it."""
    port = free_port()
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": url, "TICKETFLOW_SECRET_KEY": SECRET_KEY,
           "TICKETFLOW_VAR": str(folder)}
    command = [str(Path(sys.executable).with_name("gunicorn")), "-b", f"127.0.0.1:{port}",
               "--workers", "1", "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
               "--keep-alive", "60", "web.wsgi:app"]
    log = folder / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_healthy(process, port, log)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- report ---------------------------------------------------------------------------------------
def percentile(values: list[float], share: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def with_all_completes(samples: dict[str, list[float]]) -> dict[str, list[float]]:
    merged = dict(samples)
    merged[ALL_COMPLETES] = [ms for kind, values in samples.items() if kind.startswith("complete ")
                             for ms in values]
    return merged


def writes_per_lifecycle(samples: dict[str, list[float]]) -> float:
    """Mean ms per lifecycle of the requests that change state the way the raw path does."""
    lifecycles = len(samples["open ticket"])
    return (sum(samples["open ticket"]) + sum(samples[ALL_COMPLETES])) / lifecycles


def lifecycle_report(raw: Rate, inproc: Rate, loopback: Rate, writes_ms: tuple[float, float]) -> list[str]:
    row = "  {:<36}{:>14}{:>15}{:>22}{:>15}"
    lines = ["", "1. L1-direct lifecycle: open, classify, assess (L1), apply solution, resolved -> closed",
             f"   median of {ROUNDS} alternating rounds of {RAW_PER_ROUND} raw / {HTTP_PER_ROUND} + "
             f"{HTTP_PER_ROUND} HTTP lifecycles (16 requests each), after warm-up",
             row.format("", "ms/lifecycle", "lifecycles/s", "rounds min..max ms", "x raw")]
    for label, rate in (("raw SpiffWorkflow, in memory", raw), ("Flask test client, in process", inproc),
                        (f"gunicorn gthread 1x{GUNICORN_THREADS}, loopback", loopback)):
        lines.append(row.format(label, f"{rate.median_ms:.2f}", f"{rate.per_second:.1f}",
                                f"{rate.low_ms:.2f}..{rate.high_ms:.2f}",
                                f"{rate.median_ms / raw.median_ms:.2f}x"))
    lines += ["   of an HTTP lifecycle, the 5 requests that make the raw path's 5 steps (open + 4",
              "   completes; the other 11 are reads and claims), mean ms per lifecycle:"]
    for label, ms in zip(("test client", "gunicorn"), writes_ms, strict=True):
        lines.append(row.format(f"  {label}: open + 4 completes", f"{ms:.2f}", "", "",
                                f"{ms / raw.median_ms:.2f}x"))
    return lines


def latency_cells(values: list[float], lifecycles: int) -> list[str]:
    """p50, p95 and the kind's total per lifecycle, in ms."""
    figures = (statistics.median(values), percentile(values, 95), sum(values) / lifecycles)
    return [f"{ms:.2f}" for ms in figures]


def latency_report(inproc: dict[str, list[float]], loopback: dict[str, list[float]],
                   lifecycles: int) -> list[str]:
    row = "  {:<30}{:>6}{:>9}{:>9}{:>9}{:>11}{:>9}{:>9}"
    lines = ["", "2. Latency per request kind: ms the client waits, over every request of the measured",
             f"   rounds ({lifecycles} lifecycles each); per life: the kind's total ms per lifecycle",
             row.format("", "per", "in-proc", "", "", "gunicorn", "", ""),
             row.format("request", "life", "p50", "p95", "per life", "p50", "p95", "per life")]
    for kind in [*KINDS, ALL_COMPLETES]:
        a, b = inproc.get(kind, []), loopback.get(kind, [])
        if len(a) < 2 or len(b) < 2:
            continue
        lines.append(row.format(kind, f"{len(b) / lifecycles:g}", *latency_cells(a, lifecycles),
                                *latency_cells(b, lifecycles)))
    return lines


def summary(raw: Rate, inproc: Rate, loopback: Rate, inproc_samples: dict[str, list[float]],
            loopback_samples: dict[str, list[float]]) -> list[str]:
    row = "  {:<62}{:>10}{:>10}{:>9}"
    lines = ["", "Targets", row.format("measure", "measured", "target", "verdict")]
    for label, rate in (("HTTP/raw time per lifecycle, test client", inproc),
                        ("HTTP/raw time per lifecycle, gunicorn", loopback)):
        ratio = rate.median_ms / raw.median_ms
        lines.append(row.format(label, f"{ratio:.2f}x", f"<= {HTTP_TARGET:.1f}x",
                                verdict(ratio, HTTP_TARGET)))
    for label, samples in (("complete a user task over HTTP on SQLite: p50, test client", inproc_samples),
                           ("complete a user task over HTTP on SQLite: p50, gunicorn", loopback_samples)):
        p50 = statistics.median(samples[ALL_COMPLETES])
        lines.append(row.format(label, f"{p50:.2f} ms", f"< {COMPLETE_P50_TARGET_MS:.0f} ms",
                                "OK" if p50 < COMPLETE_P50_TARGET_MS else "MISSED"))
    return lines


# -- run ------------------------------------------------------------------------------------------
def bench(folder: Path) -> list[str]:
    from web.app import WebSettings, create_app

    raw = RawDriver()
    served_url = f"sqlite:///{folder / 'gunicorn.db'}"
    served_runtime, served_tokens = prepare_database(served_url)
    served_runtime.close()  # the server opens its own; this process only prepared the file
    runtime, inproc_tokens = prepare_database(f"sqlite:///{folder / 'inprocess.db'}")
    inproc = HttpDriver(FlaskClientTransport(create_app(runtime, WebSettings(secret_key=SECRET_KEY))),
                        inproc_tokens)
    try:
        with gunicorn_server(folder, served_url) as port:
            transport = LoopbackTransport(port)
            loopback = HttpDriver(transport, served_tokens)
            try:
                inproc.warm_up(HTTP_WARMUP)
                loopback.warm_up(HTTP_WARMUP)
                raw_rate, inproc_rate, loopback_rate = measure_interleaved(
                    [Workload(raw.lifecycle, RAW_WARMUP, RAW_PER_ROUND),
                     Workload(inproc.lifecycle, 0, HTTP_PER_ROUND),
                     Workload(loopback.lifecycle, 0, HTTP_PER_ROUND)], ROUNDS)
            finally:
                transport.close()
    finally:
        runtime.close()
    inproc_samples = with_all_completes(inproc.samples)
    loopback_samples = with_all_completes(loopback.samples)
    writes = (writes_per_lifecycle(inproc_samples), writes_per_lifecycle(loopback_samples))
    return (lifecycle_report(raw_rate, inproc_rate, loopback_rate, writes)
            + latency_report(inproc_samples, loopback_samples, ROUNDS * HTTP_PER_ROUND)
            + summary(raw_rate, inproc_rate, loopback_rate, inproc_samples, loopback_samples))


def main() -> int:
    began = time.perf_counter()
    ensure_repo_importable()
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("Flask", "Werkzeug", "gunicorn"))
    print("\n".join(["ticketflow HTTP API benchmark", *header()[1:], f"  {versions}"]), flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="ticketflow-bench-api-") as folder:
            lines = bench(Path(folder))
    except Exception:  # report the failure; a benchmark never fails the build
        traceback.print_exc()
        lines = ["", "  the benchmark did not complete (see the error above)"]
    lines.append(f"\n  total benchmark time {time.perf_counter() - began:.1f}s")
    print("\n".join(line.rstrip() for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
