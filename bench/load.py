"""Benchmark: many processes under load. Simulated agents and customers, each a process of its own, play full
lifecycles over HTTP against gunicorn with 1, 2 and 4 web workers beside 1 or 2 ``ticketflow worker`` processes, on
PostgreSQL and on SQLite.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.load [--quick]

What it prints:

1. Per setup (database, web workers, ticketflow workers): lifecycles per second and requests per second with
   ``CLIENTS`` client processes playing as fast as the server answers (closed loop), errors (must be 0) and the
   p50/p99 of completing a task. Each client process has its own customer, L1 and L2 tokens and works as people
   do: the agent reads the ticket, lists its lane's tasks, reads the task, claims it and completes it; the
   customer answers on the ticket. Three tickets in four are solved by L1, one goes to L2. The scaling ratio is
   2 web workers over 1 (target on PostgreSQL: at least 1.6x). On PostgreSQL those two setups run twice, first and
   last (1, 2, ..., 2, 1), and the ratio is of both runs added up, so that the machine's drift cancels.
   Under each setup, where the cores went over the measured window (bench/load_cpu.py, Linux only): how many
   cores web, ticketflow worker, PostgreSQL, the clients and everything else kept busy on average, and idle; then
   the CPU one lifecycle cost, in milliseconds of one core, per role. The clients run on the same machine, so
   they take cores the server could use.
   After the scaling line, the ceiling the machine allows (inferred from measured figures): its cores over the CPU
   one lifecycle cost with 1 web worker on PostgreSQL, every process together; how close 1 web worker already is
   to it, hence the most 2 can give; and the same without the clients' share, as if the load came from another
   machine.
2. On PostgreSQL with 2 web workers: the peak from (1), then ``PACED_CLIENTS`` processes together starting
   lifecycles at 80% of it, each on its own schedule, the schedules spread evenly (client i starts i/n of a pace
   after the first, as wrk2 spreads requests; one still busy starts its next late, and with twice as many clients
   as in (1) each is idle about half the time, so the pace holds), with p50/p95/p99 per request kind and where the
   cores went. Target: p99 of task completion under 50 ms. Started all at once, the clients sent their lifecycles
   in bursts, and with half as many they were rarely idle, so a slow answer delayed the next start: both hid part
   of the queueing a steady 80% load brings.
3. The same paced run beside a garbage client sending malformed JSON and made-up tokens from an address of its
   own, as fast as it can, rate limits on (``TICKETFLOW_RATE_LIMIT``, in both paced runs): the others must stay
   within the figures of (2).

Every database is fresh (a scratch PostgreSQL database, a temporary SQLite file); the servers are stopped at the
end, also when the run fails. The exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import DEMO_KB, free_port, wait_healthy  # noqa: E402
from bench.engine import REPO_ROOT, header  # noqa: E402
from bench.load_clients import Tokens, agent_process, garbage_process  # noqa: E402
from bench.load_cpu import CpuMeter, CpuUse, ceiling_lines, cpu_lines  # noqa: E402
from bench.scratch import migrated_runtime, scratch_postgres  # noqa: E402

SCALING_TARGET = 1.6
P99_TARGET_MS = 50.0
PACE_SHARE = 0.8
# Enough to keep every web thread and PostgreSQL busy in a closed loop: each client waits for its answer, so with 4
# the 2-worker runs left 0.16-0.20 of the cores idle while requests waited on one another; with 8, about 0.10.
CLIENTS = 8
PACED_CLIENTS = 16  # twice as many, each idle part of the time: a slow answer does not delay the next start
RATE_LIMIT = "80"  # paced runs: requests/s per caller and web worker, above what one paced client sends (~60)
COMPLETE = "complete (all user tasks)"
KINDS = ("open ticket", "get ticket", "task list", "task detail", "claim", COMPLETE)


@dataclass(frozen=True)
class Plan:
    measure: float  # seconds each setup is measured
    warm_up: float
    setups: tuple[tuple[str, int, int], ...]  # (database, web workers, ticketflow workers)


# The scaling target's two setups run twice, first and last on PostgreSQL (1, 2, ..., 2, 1), and are added up: the
# VM's speed drifts over minutes, and a drift that favoured one of them in the first pair favours the other in the
# second.
FULL = Plan(15.0, 3.0, (("PostgreSQL", 1, 1), ("PostgreSQL", 2, 1), ("PostgreSQL", 4, 1), ("PostgreSQL", 2, 2),
                        ("PostgreSQL", 2, 1), ("PostgreSQL", 1, 1),
                        ("SQLite", 1, 1), ("SQLite", 2, 1), ("SQLite", 4, 1), ("SQLite", 2, 2)))
QUICK = Plan(5.0, 1.5, (("PostgreSQL", 1, 1), ("PostgreSQL", 2, 1), ("SQLite", 1, 1)))


@dataclass
class Outcome:
    """What the client processes of one run did, added up."""

    seconds: float
    lifecycles: int = 0
    errors: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    garbage: Counter[int] = field(default_factory=Counter)
    garbage_seconds: float = 0.0
    cpu: CpuUse | None = None  # where the cores went over the measured window

    def __add__(self, other: Outcome) -> Outcome:
        """Two runs of one setup as one: what each did, over both their measured windows."""
        both = Outcome(self.seconds + other.seconds, self.lifecycles + other.lifecycles, self.errors + other.errors,
                       statuses=self.statuses + other.statuses, garbage=self.garbage + other.garbage,
                       garbage_seconds=self.garbage_seconds + other.garbage_seconds,
                       cpu=self.cpu + other.cpu if self.cpu and other.cpu else None)
        for run in (self, other):
            for kind, values in run.samples.items():
                both.samples[kind] += values
        return both

    def add(self, part: dict[str, Any]) -> None:
        self.lifecycles += part["lifecycles"]
        self.errors += part["errors"]
        self.statuses.update(part["statuses"])
        for kind, values in part["samples"].items():
            self.samples[COMPLETE if kind.startswith("complete ") else kind] += values
        self.garbage.update(part.get("garbage", {}))
        self.garbage_seconds += part.get("garbage_seconds", 0.0)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.samples.values())


def drive(server: Server, people: list[Tokens], plan: Plan, pace: float | None = None,
          garbage_token: str | None = None) -> Outcome:
    """Run the client processes against ``server`` and add up what they report, with the CPU each role used over
    the measured window (after warm-up, until the end)."""
    port = server.port
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    began = time.monotonic()
    end = began + plan.warm_up + plan.measure
    # Paced clients take turns: client i starts i/n of a pace after client 0, so that lifecycles start evenly
    # spread at the asked rate (as wrk2 paces requests), not all clients at once every ``pace`` seconds.
    processes = [context.Process(target=agent_process, args=(
        port, tokens, f"client {i}", began, plan.warm_up, end, pace, results, i * (pace or 0.0) / len(people)))
        for i, tokens in enumerate(people)]
    if garbage_token is not None:
        processes.append(context.Process(target=garbage_process, args=(port, garbage_token, end, results)))
    for process in processes:
        process.start()
    meter = CpuMeter({"web": [server.web], "worker": server.workers,
                      "clients": [p.pid for p in processes if p.pid is not None]})
    meter.watch(began + plan.warm_up, end)
    outcome = Outcome(plan.measure)
    for _ in processes:
        outcome.add(results.get(timeout=plan.measure + plan.warm_up + 120))
    outcome.cpu = meter.result()
    for process in processes:
        process.join(timeout=30)
    return outcome


# -- the servers ------------------------------------------------------------------------------------------------
def prepare(url: str, clients: int = CLIENTS) -> tuple[list[Tokens], str]:
    """Migrate, deploy, load the demo KB, add each client's people; (their tokens, the garbage client's token)."""
    from engine.usecases.knowledge import import_kb_file
    from engine.usecases.users import Directory
    from ticketflow.composition import deploy_file

    runtime = migrated_runtime(url)
    try:
        deploy_file(runtime)
        import_kb_file(runtime, DEMO_KB)
        directory = Directory(runtime.sessions, runtime.clock)

        def token(name: str, role: str, email: str | None = None) -> str:
            return directory.add_user(name, role, email)[1]

        people = [Tokens(token(f"cust{i}", "customer", f"cust{i}@example.com"), token(f"l1_{i}", "l1"),
                         token(f"l2_{i}", "l2")) for i in range(clients)]
        return people, token("mallory", "customer", "mallory@example.com")
    finally:
        runtime.close()


@dataclass(frozen=True)
class Server:
    """A running server: where the clients reach it, and its processes for the CPU meter."""

    port: int
    web: int  # the gunicorn master: the web workers are its children
    workers: tuple[int, ...]  # the ticketflow worker processes


@contextmanager
def serving(folder: Path, url: str, web: int, workers: int, limited: bool = False) -> Iterator[Server]:
    """gunicorn with ``web`` workers and ``workers`` ticketflow workers on ``url`` (``limited``: with rate limits);
    yields where they are, always stops them."""
    port = free_port()
    env = {**os.environ, "TICKETFLOW_DATABASE_URL": url, "TICKETFLOW_SECRET_KEY": "bench-load",
           "TICKETFLOW_VAR": str(folder), "TICKETFLOW_LOG_FORMAT": "text",
           "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics")}
    env["TICKETFLOW_RATE_LIMIT"] = RATE_LIMIT if limited else "off"  # on by default: off to measure throughput
    bin_dir = Path(sys.executable).parent
    log = folder / f"server-{web}-{workers}.log"
    with ExitStack() as stack:
        out = stack.enter_context(log.open("ab"))
        commands = [[str(bin_dir / "gunicorn"), "-c", "python:ticketflow.gunicorn", "-b", f"127.0.0.1:{port}",
                     "--workers", str(web), "--keep-alive", "60", "ticketflow.wsgi:app"]]  # as the README runs it
        commands += [[sys.executable, "-m", "ticketflow", "worker", "--interval", "1"]] * workers
        processes = [subprocess.Popen(c, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
                     for c in commands]
        try:
            wait_healthy(processes[0], port, log)
            yield Server(port, processes[0].pid, tuple(p.pid for p in processes[1:]))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


@contextmanager
def database(kind: str, folder: Path, label: str) -> Iterator[str | None]:
    if kind == "SQLite":
        yield f"sqlite:///{folder / (label + '.db')}"
        return
    with scratch_postgres(f"load_{label}") as url:
        yield url


# -- the report -------------------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share / 100 * len(ordered)))]


def closed_loop_line(setup: tuple[str, int, int], outcome: Outcome) -> str:
    completes = outcome.samples.get(COMPLETE) or [0.0]
    return (f"  {setup[0]:<11}{setup[1]:>4}{setup[2]:>8}{outcome.lifecycles / outcome.seconds:>14.1f}"
            f"{outcome.requests / outcome.seconds:>8.0f}{len(outcome.errors):>8}"
            f"{statistics.median(completes):>9.1f}{percentile(completes, 99):>9.1f}")


def kinds_table(outcome: Outcome) -> list[str]:
    row = "    {:<26}{:>8}{:>8}{:>8}{:>8}"
    lines = [row.format("request", "p50", "p95", "p99", "count")]
    for kind in KINDS:
        values = outcome.samples.get(kind, [])
        if values:
            lines.append(row.format(kind, *(f"{percentile(values, p):.1f}" for p in (50, 95, 99)), len(values)))
    return lines


def paced_summary(label: str, outcome: Outcome) -> list[str]:
    completes = outcome.samples.get(COMPLETE) or [float("inf")]
    p99 = percentile(completes, 99)
    limited = outcome.statuses.get(429, 0)
    lines = [f"  {label}: {outcome.lifecycles / outcome.seconds:.1f} lifecycles/s, {len(outcome.errors)} errors, "
             f"{limited} answers 429 to the paced clients; p99 task completion {p99:.1f} ms (target < "
             f"{P99_TARGET_MS:.0f} ms): {'OK' if p99 < P99_TARGET_MS and not outcome.errors else 'MISSED'}"]
    if outcome.garbage:
        spread = ", ".join(f"{status or 'no answer'}: {count}" for status, count in sorted(outcome.garbage.items()))
        rate = sum(outcome.garbage.values()) / outcome.garbage_seconds
        lines.append(f"    garbage client: {rate:.0f} requests/s ({spread})")
    if outcome.errors:
        lines.append(f"    first error: {outcome.errors[0]}")
    return lines + cpu_lines(outcome.cpu, outcome.lifecycles) + kinds_table(outcome)


def say(*lines: str) -> None:
    """Print as the run goes: a full run takes minutes."""
    print("\n".join(line.rstrip() for line in lines), flush=True)


# -- run --------------------------------------------------------------------------------------------------------
def closed_loops(folder: Path, plan: Plan) -> dict[tuple[str, int, int], Outcome]:
    say("", f"1. Closed loop: {CLIENTS} client processes as fast as answered, {plan.measure:.0f} s per setup "
            f"after {plan.warm_up:.0f} s of warm-up (times in ms)",
        f"  {'database':<11}{'web':>4}{'workers':>8}{'lifecycles/s':>14}{'req/s':>8}{'errors':>8}"
        f"{'done p50':>9}{'p99':>9}")
    outcomes: dict[tuple[str, int, int], Outcome] = {}
    for setup in plan.setups:
        kind, web, workers = setup
        with database(kind, folder, f"{kind.lower()}_{web}_{workers}") as url:
            if url is None:
                continue
            people, _ = prepare(url)
            with serving(folder, url, web, workers) as server:
                run = drive(server, people, plan)
        say(closed_loop_line(setup, run), *cpu_lines(run.cpu, run.lifecycles))
        outcomes[setup] = outcomes[setup] + run if setup in outcomes else run
    for kind in ("PostgreSQL", "SQLite"):
        one, two = outcomes.get((kind, 1, 1)), outcomes.get((kind, 2, 1))
        if one and two and one.lifecycles:
            ratio = (two.lifecycles / two.seconds) / (one.lifecycles / one.seconds)
            if one.seconds > plan.measure:
                say(f"  {kind}, both runs of 1 and of 2 web workers added up: {one.lifecycles / one.seconds:.1f} "
                    f"and {two.lifecycles / two.seconds:.1f} lifecycles/s")
            target = f"(target >= {SCALING_TARGET}x: {'OK' if ratio >= SCALING_TARGET else 'MISSED'})" \
                if kind == "PostgreSQL" else "(information: one writer at a time)"
            say(f"  scaling, {kind}, 2 web workers over 1: {ratio:.2f}x {target}")
            if kind == "PostgreSQL":  # the target's setup: what the machine allows it
                say(*ceiling_lines(one.cpu, one.lifecycles, one.lifecycles / one.seconds))
    return outcomes


def paced(folder: Path, plan: Plan, peak: float) -> None:
    """At PACE_SHARE of the peak on PostgreSQL with 2 web workers: alone, then beside the garbage client."""
    rate = PACE_SHARE * peak
    say("", f"2. Paced at {PACE_SHARE:.0%} of the PostgreSQL 2-web peak ({peak:.1f}/s): {rate:.1f} lifecycles/s "
            f"started on schedule by {PACED_CLIENTS} client processes (times in ms)")
    for label, garbage in (("alone", False), ("3. beside a garbage client at full speed", True)):
        with database("PostgreSQL", folder, f"paced_{int(garbage)}") as url:
            if url is None:
                return
            people, bad = prepare(url, PACED_CLIENTS)
            with serving(folder, url, 2, 1, limited=True) as server:
                outcome = drive(server, people, plan, PACED_CLIENTS / rate, bad if garbage else None)
        say(*paced_summary(label, outcome))


def bench(folder: Path, plan: Plan) -> None:
    outcomes = closed_loops(folder, plan)
    postgres = outcomes.get(("PostgreSQL", 2, 1))
    if postgres is None or not postgres.lifecycles:
        say("", "  PostgreSQL unavailable or failing: no paced runs")
        return
    say("  PostgreSQL, 2 web workers, per request kind:", *kinds_table(postgres))
    paced(folder, plan, postgres.lifecycles / postgres.seconds)


def main() -> int:
    plan = QUICK if "--quick" in sys.argv[1:] else FULL
    began = time.perf_counter()
    say("ticketflow load benchmark (processes under load)", *header()[1:])
    try:
        with tempfile.TemporaryDirectory(prefix="ticketflow-bench-load-") as folder:
            bench(Path(folder), plan)
    except Exception:  # report the failure; a benchmark never fails the build
        traceback.print_exc()
        say("", "  the benchmark did not complete (see the error above)")
    say("", f"  load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
            f"total benchmark time {time.perf_counter() - began:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
