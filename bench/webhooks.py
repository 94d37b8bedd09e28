"""Benchmark: verified inbound webhook deliveries per second, each opening a ticket, over HTTP on loopback.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.webhooks        (or: .venv/bin/python bench/webhooks.py)

Each setup is a real gunicorn (``ticketflow.wsgi:app``, gthread worker, 2 threads per process) on 127.0.0.1:
SQLite with one process (the embedded deployment: one writer at a time anyway), PostgreSQL with one and with two
processes (skipped when TICKETFLOW_TEST_POSTGRES_URL does not answer; a scratch database is made and dropped).
CLIENTS threads each keep one connection and send DELIVERIES deliveries in all, every one with a fresh webhook-id,
signed by the ``standardwebhooks`` library just before it is sent (as a channel would), after WARMUP unmeasured
ones. Every answer must be 201: a refusal stops the run. Printed: deliveries per second, and p50/p95 latency.

Outbound: on PostgreSQL (a scratch database per run), OUT_TICKETS tickets are opened with one subscription to every
event type, to a local receiver (``http.server`` on loopback, answering 204); then 1 and 2 worker threads, each
with its own runtime and ``make_delivery`` as ``ticketflow worker`` builds it, deliver every queued event.
Printed: deliveries per second (signed, POSTed, settled with an event in the ticket's history).
The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import gunicorn_server  # noqa: E402
from bench.scratch import migrated_runtime, scratch_postgres  # noqa: E402

CLIENTS = 4
DELIVERIES = 200
WARMUP = 20
CHANNEL = "bench-form"
PAYLOAD = json.dumps({"subject": "Checkout button does nothing",
                      "description": "Clicking 'Pay' on the web form leaves the page exactly as it was.",
                      "customer": "carol", "contact": {"email": "carol@example.com"}}).encode()


def prepare(url: str) -> str:
    """Migrate, deploy the bundled diagram and register the channel; its signing secret."""
    from engine.access import Actor
    from engine.usecases.channels import ChannelAdmin
    from ticketflow.composition import deploy_file

    runtime = migrated_runtime(url)
    try:
        deploy_file(runtime)
        return ChannelAdmin(runtime).add(Actor("bench", "admin"), CHANNEL)
    finally:
        runtime.close()


def send(conn: http.client.HTTPConnection, secret: str) -> float:
    """Sign and send one fresh delivery; the milliseconds until its 201."""
    from standardwebhooks.webhooks import Webhook

    webhook_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
               "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(webhook_id, now, PAYLOAD.decode())}
    began = time.perf_counter()
    conn.request("POST", f"/webhooks/inbound/{CHANNEL}", body=PAYLOAD, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 201:
        raise RuntimeError(f"delivery answered {response.status}: {body[:300]!r}")
    return (time.perf_counter() - began) * 1000.0


def load(port: int, secret: str, count: int) -> tuple[float, list[float]]:
    """``count`` deliveries from CLIENTS threads; (seconds taken, milliseconds per delivery)."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    shares = [count // CLIENTS + (1 if i < count % CLIENTS else 0) for i in range(CLIENTS)]

    def client(share: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            mine = [send(conn, secret) for _ in range(share)]
            with lock:
                latencies.extend(mine)
        except BaseException as failure:  # reported by the main thread
            failures.append(failure)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - began, latencies


def run(folder: Path, url: str, workers: int) -> str:
    """One setup's figures as a line of the report."""
    secret = prepare(url)
    with gunicorn_server(folder, url, workers=workers, threads=2) as port:
        load(port, secret, WARMUP)
        seconds, latencies = load(port, secret, DELIVERIES)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[-1]
    return f"{DELIVERIES / seconds:8.1f} deliveries/s   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms"


OUT_TICKETS = 150


class _Accepting(BaseHTTPRequestHandler):
    """A receiver that reads each delivery and answers 204."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def outbound(url: str, workers: int) -> str:
    """Deliveries per second of one setup: every queued event POSTed to the local receiver by ``workers`` threads."""
    from http.server import ThreadingHTTPServer

    from engine.access import Actor
    from engine.config import EngineConfig
    from engine.store.webhooks import EVENT_TYPES
    from engine.usecases.subscriptions import HostPolicy, SubscriptionAdmin
    from engine.usecases.tickets import TicketIntake
    from ticketflow.composition import deploy_file, make_delivery, make_runtime
    from webhooks.outbound import WebhookTransport

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    policy = HostPolicy.parse("127.0.0.1")
    runtime = migrated_runtime(url)
    runtimes = [make_runtime(EngineConfig(database_url=url)) for _ in range(workers)]
    try:
        deploy_file(runtime)
        SubscriptionAdmin(runtime, policy).add(Actor("bench", "admin"), f"http://127.0.0.1:{server.server_port}/in",
                                               list(EVENT_TYPES))
        for n in range(OUT_TICKETS):
            runtime.open_ticket(TicketIntake(subject=f"Printer {n} jams", description="It jams on every page.",
                                             customer="carol", contact={"email": "carol@example.com"}),
                                Actor("carol", "customer"))
        reports: list[int] = []
        threads = [threading.Thread(target=lambda r=r: reports.extend(
            make_delivery(r, webhooks=WebhookTransport(policy)).deliver_due().delivered)) for r in runtimes]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        return f"{len(reports) / seconds:8.1f} deliveries/s   ({len(reports)} events of {OUT_TICKETS} tickets)"
    finally:
        server.shutdown()
        for each in (runtime, *runtimes):
            each.close()


def main_outbound() -> None:
    print(f"Outbound webhooks: the events of {OUT_TICKETS} opened tickets (subscription to every type), signed and "
          "POSTed to a receiver on loopback")
    for workers in (1, 2):
        with scratch_postgres("webhooks") as url:
            if url is not None:
                print(f"PostgreSQL, {workers} worker(s)   {outbound(url, workers)}", flush=True)


def main() -> int:
    print(f"Inbound webhooks: {DELIVERIES} signed deliveries (each opens a ticket) from {CLIENTS} clients over "
          f"loopback, after {WARMUP} warm-up ones; gunicorn gthread, 2 threads per process")
    try:
        with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as tmp:
            folder = Path(tmp)
            sqlite_url = f"sqlite:///{folder / 'bench.db'}"
            print(f"SQLite, 1 process       {run(folder, sqlite_url, 1)}", flush=True)
            for workers in (1, 2):
                with scratch_postgres("webhooks") as url:
                    if url is not None:
                        print(f"PostgreSQL, {workers} process(es) {run(folder, url, workers)}", flush=True)
    except Exception:  # a benchmark reports; it never fails the build
        traceback.print_exc()
    try:
        main_outbound()
    except Exception:  # a benchmark reports; it never fails the build
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
