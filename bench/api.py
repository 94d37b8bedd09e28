"""Benchmark: what the HTTP layer costs on top of raw SpiffWorkflow, in process and over loopback.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.api        (or: .venv/bin/python bench/api.py)

One run (about half a minute) prints, side by side:

1. Lifecycles per second. The L1-direct path (open, classify, assess (resolved at first level),
   apply solution, customer confirms resolved -> closed) driven over three kinds of channel:
   - raw SpiffWorkflow in memory: ``RawDriver`` from ``bench/engine.py``, the floor;
   - the Flask app in process, through its test client (``create_app`` over a runtime on SQLite);
   - a real gunicorn on 127.0.0.1 (random free port) serving ``ticketflow.wsgi:app`` on its own SQLite
     database, called over one keep-alive connection by a thin HTTP/1.1 client (``SocketTransport``,
     as wrk is thin: the figure is the server's), and, for comparison, by the standard library's
     ``http.client``, whose header parsing adds about 0.2 ms per request on this machine.
   Over HTTP the path is played two ways, every request authenticated with a bearer token and
   its JSON parsed on both sides:
   - lifecycle, fewest requests (5): the customer opens the ticket, and each answer names the
     task that is ready next, which its worker completes. This is the raw path's work (open and
     four completions) over HTTP, so the 6x target (DESIGN.md) is judged on it;
   - agents at work (16): what people's clients send besides: for each of L1's three tasks, L1
     lists its tasks, reads the task, claims it and completes it; the customer reads their ticket,
     reads the validation task and answers it. The 11 extra reads and claims are work the raw path
     has no counterpart for; the ratio is printed for information.
   Rounds of the raw floor and all five HTTP drivers alternate, so they see the same machine load.
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
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import (  # noqa: E402
    ACTORS,
    INTAKE,
    L1_DIRECT,
    RAW_PER_ROUND,
    RAW_WARMUP,
    REPO_ROOT,
    Rate,
    RawDriver,
    Step,
    Workload,
    add_known_solution,
    ensure_repo_importable,
    header,
    measure_interleaved,
    verdict,
)
from bench.scratch import migrated_runtime  # noqa: E402

HTTP_TARGET = 6.0  # HTTP time per lifecycle / raw time per lifecycle
COMPLETE_P50_TARGET_MS = 11.0

ROUNDS = 15  # alternating rounds of the raw floor and every HTTP driver
HTTP_WARMUP, HTTP_PER_ROUND = 5, 10
GUNICORN_THREADS = 2
STARTUP_TIMEOUT = 30.0  # seconds for gunicorn to answer /healthz
SECRET_KEY = "bench-secret-key"
DEMO_KB = REPO_ROOT / "ticketflow" / "data" / "demo_kb.json"
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


class SocketTransport:
    """HTTP/1.1 on one keep-alive socket to the server on 127.0.0.1, with as little client as it takes.

    Load generators such as wrk are thin for the same reason: the figure should be the server's.
    It understands what ticketflow answers (a status line, headers, a Content-Length body) and
    refuses anything else rather than guess.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def send(self, method: str, path: str, token: str, body: Any | None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._receive()
        header, _, rest = self.pending.partition(b"\r\n\r\n")
        lines = header.split(b"\r\n")
        lengths = [int(line.split(b":", 1)[1]) for line in lines[1:] if line.lower().startswith(b"content-length:")]
        if not lengths:
            raise RuntimeError(f"{method} {path}: a response without Content-Length: {header[:200]!r}")
        while len(rest) < lengths[0]:
            rest += self._receive()
        raw, self.pending = rest[:lengths[0]], rest[lengths[0]:]
        return int(lines[0].split()[1]), json.loads(raw) if raw else None

    def _receive(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


class LoopbackTransport:
    """The standard library's HTTP/1.1 client on one keep-alive connection to the server on 127.0.0.1."""

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

    def open_ticket(self) -> dict[str, Any]:
        intake = {"subject": INTAKE["subject"], "description": INTAKE["description"]}
        return self.call("open ticket", "POST", "/api/v1/tickets", "customer", intake, expect=201)  # type: ignore[no-any-return]

    def complete(self, task: dict[str, Any], step: Step) -> dict[str, Any]:
        return self.call(f"complete {step.element}", "POST", f"{task['href']}/complete", step.actor,  # type: ignore[no-any-return]
                         step.form)

    @staticmethod
    def closed(ticket: dict[str, Any]) -> None:
        if ticket["status"] != "closed":
            raise RuntimeError(f"{ticket['number']} ended {ticket['status']}, not closed")

    def direct(self) -> None:
        """The lifecycle in the fewest requests: open, then complete the task each answer names (5)."""
        ticket = self.open_ticket()
        for step in L1_DIRECT:
            ready = ticket["ready_tasks"]
            if len(ready) != 1 or ready[0]["element_id"] != step.element:
                raise RuntimeError(f"{ticket['number']}: expected {step.element} ready, found {ready}")
            ticket = self.complete(ready[0], step)
        self.closed(ticket)

    def agents(self) -> None:
        """The lifecycle as people work it (16 requests): each agent finds the task in their list, reads
        it, claims it and completes it; the customer finds theirs on the ticket page and answers."""
        ticket = self.open_ticket()
        for step in L1_DIRECT:
            task = self.find_task(ticket["number"], step)
            self.call("get task detail", "GET", task["href"], step.actor)
            if step.actor != "customer":  # agents claim before they work; the customer just answers
                self.call("claim", "POST", f"{task['href']}/claim", step.actor)
            ticket = self.complete(task, step)
        self.closed(ticket)

    def find_task(self, number: str, step: Step) -> dict[str, Any]:
        """The step's task as its worker finds it: an agent in their task list, the customer on the ticket."""
        if step.actor == "customer":
            tasks = self.call("get ticket", "GET", f"/api/v1/tickets/{number}", step.actor)["ready_tasks"]
        else:
            tasks = self.call("get task list", "GET", "/api/v1/tasks", step.actor)["items"]
        mine = [t for t in tasks if t["ticket"] == number]
        if len(mine) != 1 or mine[0]["element_id"] != step.element:
            raise RuntimeError(f"{number}: expected {step.element} ready, found {mine}")
        return mine[0]  # type: ignore[no-any-return]

    def warm_up(self, lifecycles: int) -> None:
        for _ in range(lifecycles):
            self.direct()
            self.agents()
        self.samples.clear()


# -- databases and the server ---------------------------------------------------------------------
def prepare_database(url: str) -> tuple[Any, dict[str, str]]:
    """Migrate, deploy the bundled diagram, load the demo KB, add the users; return (runtime, tokens)."""
    from engine.usecases.knowledge import import_kb_file
    from engine.usecases.users import Directory
    from ticketflow.composition import deploy_file

    runtime = migrated_runtime(url)
    deploy_file(runtime)
    import_kb_file(runtime, DEMO_KB)
    add_known_solution(runtime)
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
def gunicorn_server(folder: Path, url: str, workers: int = 1, threads: int = GUNICORN_THREADS) -> Iterator[int]:
    """gunicorn serving ``ticketflow.wsgi:app`` on a free loopback port; yields the port, always stops it."""
    port = free_port()
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": url, "TICKETFLOW_SECRET_KEY": SECRET_KEY,
           "TICKETFLOW_VAR": str(folder), "TICKETFLOW_RATE_LIMIT": "off"}  # on by default: it would cap the timings
    command = [str(Path(sys.executable).with_name("gunicorn")), "-b", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", "ticketflow.gunicorn.ProblemThreadWorker",
               "--threads", str(threads), "--keep-alive", "60", "ticketflow.wsgi:app"]
    log = folder / f"gunicorn-{workers}.log"
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


@dataclass(frozen=True)
class Play:
    """One way of driving the lifecycle: its flow, its channel, and whether the 6x target judges it."""

    flow: str
    requests: int
    channel: str
    judged: bool


DIRECT, AGENTS = "lifecycle, fewest requests", "agents at work"
IN_PROCESS = "Flask test client, in process"
GUNICORN = f"gunicorn gthread 1x{GUNICORN_THREADS}, thin client"
GUNICORN_STDLIB = f"gunicorn gthread 1x{GUNICORN_THREADS}, http.client"
PLAYS = (Play(DIRECT, 5, IN_PROCESS, True), Play(DIRECT, 5, GUNICORN, True), Play(DIRECT, 5, GUNICORN_STDLIB, False),
         Play(AGENTS, 16, IN_PROCESS, False), Play(AGENTS, 16, GUNICORN, False))


def lifecycle_report(raw: Rate, rates: dict[Play, Rate]) -> list[str]:
    row = "  {:<50}{:>13}{:>14}{:>20}{:>9}"
    lines = ["", "1. L1-direct lifecycle: open, classify, assess (L1), apply solution, resolved -> closed",
             f"   median of {ROUNDS} alternating rounds of {RAW_PER_ROUND} raw / {HTTP_PER_ROUND} lifecycles per "
             "HTTP driver, after warm-up",
             row.format("", "ms/lifecycle", "lifecycles/s", "rounds min..max ms", "x raw"),
             row.format("raw SpiffWorkflow, in memory", f"{raw.median_ms:.2f}", f"{raw.per_second:.1f}",
                        f"{raw.low_ms:.2f}..{raw.high_ms:.2f}", "1.00x")]
    flow = None
    for play, rate in rates.items():
        if play.flow != flow:
            flow = play.flow
            lines.append(f"  {play.flow} ({play.requests} requests)")
        lines.append(row.format(f"    {play.channel}", f"{rate.median_ms:.2f}", f"{rate.per_second:.1f}",
                                f"{rate.low_ms:.2f}..{rate.high_ms:.2f}", f"{rate.median_ms / raw.median_ms:.2f}x"))
    fastest = ", ".join(f"{p.channel} {r.low_ms / raw.low_ms:.2f}x" for p, r in rates.items() if p.judged)
    lines.append(f"  {DIRECT}, between the fastest rounds (noise only ever adds time): {fastest}")
    return lines


def latency_cells(values: list[float]) -> list[str]:
    return [f"{ms:.2f}" for ms in (statistics.median(values), percentile(values, 95))]


def latency_report(inproc: dict[str, list[float]], loopback: dict[str, list[float]]) -> list[str]:
    row = "  {:<30}{:>9}{:>9}{:>11}{:>9}{:>9}"
    lines = ["", "2. Latency per request kind: ms the client waits, over every request of the measured rounds",
             row.format("", "in-proc", "", "gunicorn", "", "count"),
             row.format("request", "p50", "p95", "p50", "p95", "")]
    for kind in [*KINDS, ALL_COMPLETES]:
        a, b = inproc.get(kind, []), loopback.get(kind, [])
        if len(a) < 2 or len(b) < 2:
            continue
        lines.append(row.format(kind, *latency_cells(a), *latency_cells(b), len(b)))
    return lines


def summary(raw: Rate, rates: dict[Play, Rate], inproc_samples: dict[str, list[float]],
            loopback_samples: dict[str, list[float]]) -> list[str]:
    row = "  {:<84}{:>10}{:>10}{:>9}"
    lines = ["", "Targets", row.format("measure", "measured", "target", "verdict")]
    for play, rate in rates.items():
        ratio = rate.median_ms / raw.median_ms
        label = f"HTTP/raw time per lifecycle: {play.flow}, {play.channel}"
        lines.append(row.format(label, f"{ratio:.2f}x", f"<= {HTTP_TARGET:.1f}x" if play.judged else "-",
                                verdict(ratio, HTTP_TARGET) if play.judged else "info"))
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
            thin, stdlib = SocketTransport(port), LoopbackTransport(port)
            drivers = {IN_PROCESS: inproc, GUNICORN: HttpDriver(thin, served_tokens),
                       GUNICORN_STDLIB: HttpDriver(stdlib, served_tokens)}
            try:
                for driver in drivers.values():
                    driver.warm_up(HTTP_WARMUP)
                measured = measure_interleaved(
                    [Workload(raw.lifecycle, RAW_WARMUP, RAW_PER_ROUND)]
                    + [Workload(drivers[p.channel].direct if p.flow == DIRECT else drivers[p.channel].agents, 0,
                                HTTP_PER_ROUND) for p in PLAYS], ROUNDS)
            finally:
                thin.close()
                stdlib.close()
    finally:
        runtime.close()
    raw_rate = measured[0]
    rates = dict(zip(PLAYS, measured[1:], strict=True))
    inproc_samples = with_all_completes(drivers[IN_PROCESS].samples)
    loopback_samples = with_all_completes(drivers[GUNICORN].samples)
    return (lifecycle_report(raw_rate, rates) + latency_report(inproc_samples, loopback_samples)
            + summary(raw_rate, rates, inproc_samples, loopback_samples))


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
