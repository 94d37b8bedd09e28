"""Where the cores go during the load benchmark's measured window (issue 16): CPU time per role, so that the
benchmark itself can say whether the web workers or the machine bound the throughput.

Linux only: it reads ``/proc``; elsewhere every figure is "not measured". Roles:

- web: the gunicorn master and all its descendants (its web workers);
- worker: the ``ticketflow worker`` processes and their descendants;
- postgres: every process whose name (``/proc/<pid>/comm``) is ``postgres``, the server and its backends (none
  on SQLite runs; another program's PostgreSQL on the same machine would count here too);
- clients: the benchmark's client processes (the garbage client included);
- other: the rest, inferred: the window's core-seconds (cores x seconds) less the machine's idle time and the
  four roles above (the benchmark's own process and this meter, the kernel's interrupt work, processes that
  started and ended between two readings, any other program).

A process's CPU time is utime + stime (fields 14 and 15 of ``/proc/<pid>/stat``, in clock ticks). The meter reads
every role's processes when the window opens, then every ``SAMPLE_SECONDS`` until it closes, and keeps the
largest reading per process: one that exits during the window counts up to its last reading, one that starts
during it counts from zero. Idle is the machine's idle and iowait time in ``/proc/stat`` (a core waiting for the
disk is free for other work). "Other" is a remainder rather than the busy columns of ``/proc/stat`` because,
sampled once a tick, those and idle added up to some 3% less than the window in a loaded run on a 2-core VM; the
remainder makes the line add up to the cores, and any such gap lands in "other".
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SAMPLE_SECONDS = 0.5
TREES = ("web", "worker", "clients")  # roles given by the processes at the top of a tree
ROLES = ("web", "worker", "postgres", "clients", "other")
POSTGRES_NAME = "postgres"
Process = tuple[int, int]  # (pid, start time in ticks): a pid reused within the window is another process


# -- reading /proc ----------------------------------------------------------------------------------------------
def measurable() -> bool:
    """Whether this machine has the Linux ``/proc`` the meter reads."""
    return (PROC / "stat").is_file() and (PROC / "self" / "stat").is_file()


def process_ticks(pid: int) -> tuple[Process, int] | None:
    """The process behind ``pid`` and its CPU time so far (utime + stime); None once it has exited."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the name (field 2), which may hold spaces and ")"
    utime, stime, started = fields[14 - 3], fields[15 - 3], fields[22 - 3]  # fields[0] is field 3
    return (pid, int(started)), int(utime) + int(stime)


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it. Each thread lists the children it forked, so all threads are read."""
    found, pending = {pid}, [pid]
    while pending:
        for listing in (PROC / str(pending.pop()) / "task").glob("*/children"):
            try:
                children = {int(child) for child in listing.read_text().split()}
            except OSError:  # the thread or its process has just exited
                continue
            pending += children - found
            found |= children
    return found


def named(name: str) -> set[int]:
    """Every process whose ``/proc/<pid>/comm`` is ``name``."""
    pids = set()
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.add(int(entry.name))
            except OSError:  # exited while we looked
                continue
    return pids


def idle_ticks() -> int:
    """The machine's idle time so far, all cores added up: idle + iowait, columns 4 and 5 of /proc/stat's first
    line (waiting for the disk leaves the core free for other work)."""
    idle, iowait = (PROC / "stat").read_text().split()[4:6]
    return int(idle) + int(iowait)


def online_cores() -> int:
    """The cores /proc/stat counts (one ``cpuN`` line each): the ones its idle time is spread over."""
    lines = (PROC / "stat").read_text().splitlines()
    return sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())


# -- the window -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CpuUse:
    """Core-seconds each role used during a window of ``seconds``, and the machine's idle core-seconds in it."""

    seconds: float
    cores: int
    used: Mapping[str, float]  # every role of ROLES
    idle: float

    @property
    def busy(self) -> float:
        """Core-seconds the whole machine was busy: all roles together."""
        return sum(self.used.values())

    def cores_busy(self, core_seconds: float) -> float:
        """On average how many cores ``core_seconds`` kept busy over the window."""
        return core_seconds / self.seconds

    def __add__(self, other: CpuUse) -> CpuUse:
        """Two windows as one: their seconds and core-seconds added up."""
        return CpuUse(self.seconds + other.seconds, self.cores,
                      {role: self.used[role] + other.used[role] for role in ROLES}, self.idle + other.idle)


class CpuMeter:
    """Measures a window in a thread of its own while the benchmark runs; ``result`` waits for the window to end."""

    def __init__(self, roots: Mapping[str, Iterable[int]]) -> None:
        self.roots = {role: tuple(roots.get(role, ())) for role in TREES}
        self._use: CpuUse | None = None
        self._thread: threading.Thread | None = None

    def watch(self, start: float, end: float) -> None:
        """Measure from ``start`` to ``end`` (``time.monotonic`` instants); nothing on a machine without /proc."""
        if measurable():
            self._thread = threading.Thread(target=self._measure, args=(start, end), name="cpu meter", daemon=True)
            self._thread.start()

    def result(self) -> CpuUse | None:
        """The window's figures; None when not measured (no /proc, or the meter failed and said why)."""
        if self._thread is not None:
            self._thread.join()
        return self._use

    def _measure(self, start: float, end: float) -> None:
        time.sleep(max(0.0, start - time.monotonic()))
        began, idle_before = time.monotonic(), idle_ticks()
        first = self._readings()
        latest = dict(first)
        while (now := time.monotonic()) < end:
            time.sleep(min(SAMPLE_SECONDS, end - now))
            for process, (role, ticks) in self._readings().items():
                latest[process] = (role, max(ticks, latest.get(process, (role, 0))[1]))
        idle_after, seconds = idle_ticks(), time.monotonic() - began
        tick, cores = float(os.sysconf("SC_CLK_TCK")), online_cores()
        used: dict[str, float] = defaultdict(float)
        for process, (role, ticks) in latest.items():
            used[role] += (ticks - first.get(process, (role, 0))[1]) / tick
        idle = (idle_after - idle_before) / tick
        # other: the rest of the window; the clocks differ by a tick or so, which must not show as negative work
        used["other"] = max(0.0, cores * seconds - idle - sum(used.values()))
        self._use = CpuUse(seconds, cores, {role: used[role] for role in ROLES}, idle)

    def _readings(self) -> dict[Process, tuple[str, int]]:
        """Every role's processes now, with their CPU time so far; a process is in the first tree that holds it."""
        roles: dict[int, str] = {pid: POSTGRES_NAME for pid in named(POSTGRES_NAME)}
        for role in reversed(TREES):  # the first tree wins: a client never forks a web worker, but be definite
            for root in self.roots[role]:
                roles.update(dict.fromkeys(descendants(root), role))
        readings = {}
        for pid, role in roles.items():
            reading = process_ticks(pid)
            if reading is not None:
                readings[reading[0]] = (role, reading[1])
        return readings


# -- what the benchmark prints --------------------------------------------------------------------------------------
def cpu_lines(use: CpuUse | None, lifecycles: int) -> list[str]:
    """Cores each role kept busy on average, and the CPU each lifecycle cost (milliseconds of one core)."""
    if use is None:
        return ["    cpu: not measured (needs Linux's /proc)"]
    shares = " · ".join(f"{role} {use.cores_busy(use.used[role]):.2f}" for role in ROLES)
    lines = [f"    cpu (cores of {use.cores}): {shares} · idle {use.cores_busy(use.idle):.2f}"]
    if lifecycles:
        each = ", ".join(f"{role} {use.used[role] / lifecycles * 1000:.0f}" for role in ROLES)
        lines.append(f"    cpu per lifecycle: {use.busy / lifecycles * 1000:.0f} ms ({each})")
    return lines


def ceiling_lines(use: CpuUse | None, lifecycles: int, rate: float) -> list[str]:
    """The most lifecycles/s this machine's cores allow, from the CPU one lifecycle cost with 1 web worker on
    PostgreSQL (``rate`` of them per second were measured): more web workers cannot go past it."""
    if use is None or not lifecycles or not rate:
        return ["  ceiling on this machine: not measured (needs Linux's /proc and finished lifecycles)"]
    each = use.busy / lifecycles  # core-seconds per lifecycle, every process on the machine
    clients = use.used["clients"] / lifecycles
    ceiling, remote = use.cores / each, use.cores / (each - clients)
    return [
        f"  ceiling on this machine: {ceiling:.1f} lifecycles/s; 1 web worker already reaches {rate:.1f} "
        f"({rate / ceiling:.0%} of it), so 2 can give at most {ceiling:.1f}/{rate:.1f} = {ceiling / rate:.2f}x",
        f"    measured with 1 web worker: {each * 1000:.1f} ms of CPU per lifecycle, all processes on the machine "
        f"together; inferred: {use.cores} cores / {each * 1000:.1f} ms, if a lifecycle costs no less CPU with "
        "more web workers",
        f"  without the clients' share ({clients * 1000:.1f} ms of it, as if the load came from another machine; "
        f"inferred, not run): {use.cores} cores / {(each - clients) * 1000:.1f} ms = {remote:.1f} lifecycles/s, "
        f"so 2 web workers could give at most {remote:.1f}/{rate:.1f} = {remote / rate:.2f}x",
    ]
