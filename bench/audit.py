"""Benchmark: what auditing costs: verifying every hash chain, and replaying tickets by loop count.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.audit        (or: .venv/bin/python bench/audit.py)

One run (under a minute) builds, through the real engine on a temporary SQLite database, three
tickets that go round the "issue persists" loop 1, 50 and 500 times before the customer confirms,
plus a number of L1-direct tickets, then prints side by side:

1. Verification. ``AuditService.verify_all`` (what ``ticketflow audit verify --all`` runs): every
   ticket's chain recomputed (SHA-256 over canonical JSON per event) and checked against the
   ticket row and the anchors, in batches. Reported as events verified per second (median of
   rounds), with the time of one anchor over all tickets and of ``verify_ticket`` on the largest.
2. Replay. ``AuditService.replay`` re-executes the pinned diagram on each ticket's recorded
   inputs in memory, comparing every generated event with the record. Reported per loop count:
   events, replay time (median of rounds), time per event, and the marginal cost of one more
   loop between 1 and 50 loops and between 50 and 500. The cost must grow at most linearly with
   the loop count: the marginal cost per loop should stay flat (target: the 50..500 figure at
   most 1.3x the 1..50 figure), because the task tree is compacted at each wait state just as the
   live engine does. Rounds alternate between the three tickets, so all see the same machine load.
   As a paired check within one run, the 500-loop replay is also timed input by input (each form
   submission or timer with the engine steps it causes): the mean of the last tenth over the
   first tenth should be about 1.0x.

3. A long ticket. One ticket grown the way real ones do to at least 5,000 events: persists loops,
   with a reminder (the cycle timer fired with the fake clock) and a claim and release of the
   customer's task in each loop, then a customer silent for many response windows in a row. Reported:
   events, replay seconds, as-of seconds at the last event and at the middle one, the target (2 s
   each) and the verdict; and, for contrast, the replay without pruning the reminders' spent
   branches (``engine.execution.pruning``), which grows with the square of the reminders of one wait.

Timings use ``time.perf_counter``; each figure is a median over rounds after a warm-up run. The
exit code is always 0: a benchmark reports, it never fails the build.
"""
from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine import (  # noqa: E402
    RESOLVED,
    EngineDriver,
    Step,
    engine_driver,
    ensure_repo_importable,
    header,
)

if TYPE_CHECKING:
    from engine.usecases.audit import AuditService

LOOP_COUNTS = (1, 50, 500)
FILLER_TICKETS = 150  # L1-direct tickets besides the three loop tickets
VERIFY_ROUNDS = 5
REPLAY_ROUNDS = 5
LINEAR_TARGET = 1.3  # marginal ms per loop (50..500) / (1..50)
LONG_EVENTS = 5000  # the long ticket has at least this many events
LONG_SILENT = 150  # reminders in a row at the long ticket's last validation
LONG_ROUNDS = 3
LONG_TARGET_S = 2.0  # replay and as-of of the long ticket


@dataclass
class ReplayPoint:
    loops: int
    events: int
    ms: float
    consistent: bool

    @property
    def us_per_event(self) -> float:
        return self.ms * 1000.0 / self.events


def median_ms(call: Callable[[], object], rounds: int) -> float:
    call()  # warm-up (definition cache, imports)
    times = []
    for _ in range(rounds):
        gc.collect()
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000.0)
    return statistics.median(times)


def build_tickets(driver: EngineDriver) -> dict[int, str]:
    numbers = {}
    for loops in LOOP_COUNTS:
        view = driver.escalated()
        for _ in range(loops):
            view, _ = driver.persists_loop(view)
        view, _ = driver.complete(view, Step("test_and_confirm", RESOLVED, "customer"))
        numbers[loops] = view.number
    for _ in range(FILLER_TICKETS):
        driver.lifecycle()
    return numbers


def bench_replay(audit: AuditService, numbers: dict[int, str]) -> list[ReplayPoint]:
    """Median replay time per ticket over rounds that alternate between the tickets."""
    results = {loops: audit.replay(number) for loops, number in numbers.items()}  # warm-up, and the outcome
    times: dict[int, list[float]] = {loops: [] for loops in numbers}
    for _ in range(REPLAY_ROUNDS):
        for loops, number in numbers.items():
            gc.collect()
            began = time.perf_counter()
            audit.replay(number)
            times[loops].append((time.perf_counter() - began) * 1000.0)
    return [ReplayPoint(loops, results[loops].events, statistics.median(times[loops]), results[loops].consistent)
            for loops in numbers]


def input_cost_tenths(audit: AuditService, number: str) -> tuple[float, float]:
    """Mean ms per applied input in the first and the last tenth of one replay."""
    from engine.audit.replay import Replayer

    took: list[float] = []
    apply = Replayer._apply_next_input

    def timed(self: Replayer) -> None:
        began = time.perf_counter()
        apply(self)
        took.append((time.perf_counter() - began) * 1000.0)

    Replayer._apply_next_input = timed  # type: ignore[method-assign]
    try:
        gc.collect()
        audit.replay(number)
    finally:
        Replayer._apply_next_input = apply  # type: ignore[method-assign]
    tenth = max(1, len(took) // 10)
    return statistics.fmean(took[:tenth]), statistics.fmean(took[-tenth:])


def main() -> int:
    began = time.perf_counter()
    ensure_repo_importable()
    from engine.access import Actor
    from engine.usecases.audit import AuditService

    print("\n".join(line.replace("engine benchmark", "audit benchmark") for line in header()), flush=True)
    with engine_driver() as driver:
        build_began = time.perf_counter()
        numbers = build_tickets(driver)
        audit = AuditService(driver.runtime)
        print(f"  built {len(numbers) + FILLER_TICKETS} tickets through the engine in "
              f"{time.perf_counter() - build_began:.1f}s", flush=True)
        anchor_began = time.perf_counter()
        anchor = audit.anchor(Actor("bench", "auditor"))
        anchor_ms = (time.perf_counter() - anchor_began) * 1000.0
        report = audit.verify_all()
        verify_ms = median_ms(audit.verify_all, VERIFY_ROUNDS)
        largest = numbers[LOOP_COUNTS[-1]]
        one_ms = median_ms(lambda: audit.verify_ticket(largest), VERIFY_ROUNDS)
        points = bench_replay(audit, numbers)
        tenths = input_cost_tenths(audit, numbers[LOOP_COUNTS[-1]])
        long = bench_long_ticket(driver, audit)
    lines = verify_report(report.ok, report.tickets, report.events, verify_ms, anchor.tickets, anchor_ms,
                          one_ms, points[-1].events)
    lines += replay_report(points)
    lines.append(f"  {LOOP_COUNTS[-1]}-loop replay, ms per input: first tenth {tenths[0]:.2f}, last tenth "
                 f"{tenths[1]:.2f} ({tenths[1] / tenths[0]:.2f}x)")
    lines += long_report(long)
    lines.append(f"\n  total benchmark time {time.perf_counter() - began:.1f}s")
    print("\n".join(lines))
    return 0


def verify_report(ok: bool, tickets: int, events: int, verify_ms: float, anchored: int, anchor_ms: float,
                  one_ms: float, one_events: int) -> list[str]:
    row = "  {:<44}{:>12}{:>16}"
    return ["", f"1. Verification (median of {VERIFY_ROUNDS} rounds)",
            row.format("", "ms", "events/s"),
            row.format(f"verify_all: {tickets} tickets, {events} events", f"{verify_ms:.1f}",
                       f"{events / verify_ms * 1000.0:,.0f}"),
            row.format(f"verify_ticket: largest, {one_events} events", f"{one_ms:.1f}",
                       f"{one_events / one_ms * 1000.0:,.0f}"),
            row.format(f"anchor: {anchored} tickets (once)", f"{anchor_ms:.1f}", ""),
            f"  every chain intact: {'yes' if ok else 'NO'}"]


def replay_report(points: list[ReplayPoint]) -> list[str]:
    row = "  {:>6}{:>9}{:>12}{:>11}{:>12}{:>12}{:>12}"
    first = points[0]
    lines = ["", f"2. Replay (median of {REPLAY_ROUNDS} alternating rounds; compared event by event with the record)",
             row.format("loops", "events", "replay ms", "us/event", "x loop 1", "x events", "result"),
             ]
    for point in points:
        lines.append(row.format(point.loops, point.events, f"{point.ms:.1f}", f"{point.us_per_event:.1f}",
                                f"{point.ms / first.ms:.1f}x", f"{point.events / first.events:.1f}x",
                                "consistent" if point.consistent else "DIVERGENT"))
    marginal = [(b.ms - a.ms) / (b.loops - a.loops) for a, b in zip(points, points[1:], strict=False)]
    for (a, b), cost in zip(zip(points, points[1:], strict=False), marginal, strict=True):
        lines.append(f"  marginal cost per loop, loops {a.loops}..{b.loops}: {cost:.2f} ms")
    if len(marginal) == 2 and marginal[0] > 0:
        ratio = marginal[1] / marginal[0]
        verdict = "OK (linear)" if ratio <= LINEAR_TARGET else "MISSED (grows faster than linear)"
        lines.append(f"  per-loop cost {points[1].loops}..{points[2].loops} / {points[0].loops}..{points[1].loops}: "
                     f"{ratio:.2f}x   target <= {LINEAR_TARGET:.1f}x   {verdict}")
    return lines


# -- section 3: a long ticket ----------------------------------------------------------------------
@dataclass
class LongTicket:
    events: int
    replay_s: float
    as_of_last_s: float
    as_of_middle_s: float
    unpruned_s: float
    consistent: bool


def grow_long_ticket(driver: EngineDriver, events: int = LONG_EVENTS, silent: int = LONG_SILENT) -> str:
    """A ticket of at least ``events`` events: loops with a reminder and a claim/release each, then silence."""
    from bench.engine import PERSISTS_LOOP

    view = driver.escalated()
    customer = driver.actors["customer"]
    while event_count(driver, view.number) + silent * 4 < events:  # a reminder adds 4 events
        fire_reminder(driver, view.number)
        task = driver.runtime.get_ticket(view.number).ready_tasks[0]
        driver.runtime.claim_task(task.id, customer)
        driver.runtime.release_task(task.id, customer)
        view, _ = driver.persists_loop(driver.runtime.get_ticket(view.number))
    assert view.ready_tasks[0].element_id == PERSISTS_LOOP[0].element
    for _ in range(silent):
        fire_reminder(driver, view.number)
    view, _ = driver.complete(driver.runtime.get_ticket(view.number), Step("test_and_confirm", RESOLVED, "customer"))
    return view.number


def event_count(driver: EngineDriver, number: str) -> int:
    from sqlalchemy import select

    from engine.store.models import Ticket

    with driver.runtime.uow() as uow:
        return uow.session.scalar(select(Ticket.history_seq).where(Ticket.number == number)) or 0


def fire_reminder(driver: EngineDriver, number: str) -> None:
    """Move the fake clock just past the ticket's next timer and let the worker fire it."""
    from engine.execution.clock import FakeClock

    clock = driver.runtime.clock
    due = driver.runtime.get_ticket(number).next_timer_at
    assert isinstance(clock, FakeClock) and due is not None
    clock.now = due
    clock.advance(seconds=1)
    if driver.runtime.fire_due_timers() != [number]:
        raise RuntimeError(f"{number}: the reminder did not fire")


def median_s(call: Callable[[], object], rounds: int = LONG_ROUNDS) -> float:
    return median_ms(call, rounds) / 1000.0


def bench_long_ticket(driver: EngineDriver, audit: AuditService) -> LongTicket:
    from engine.audit.replay import Replayer
    from engine.usecases.audit import _recorded, _ticket

    number = grow_long_ticket(driver)
    report = audit.replay(number)
    last, middle = report.events, report.events // 2

    def unpruned() -> None:
        with driver.runtime.uow() as uow:
            ticket = _ticket(uow.session, number)
            _, definition = driver.runtime.definition_of(uow.session, ticket.definition_id)
            Replayer(number, definition, driver.runtime.lane_roles, _recorded(uow.session, ticket.id),
                     prune=False).run()

    return LongTicket(report.events, median_s(lambda: audit.replay(number)),
                      median_s(lambda: audit.as_of(number, last)), median_s(lambda: audit.as_of(number, middle)),
                      median_s(unpruned, 1), report.consistent)


def long_report(long: LongTicket) -> list[str]:
    worst = max(long.replay_s, long.as_of_last_s, long.as_of_middle_s)
    ok = worst <= LONG_TARGET_S and long.consistent
    row = "  {:>7}{:>11}{:>14}{:>16}{:>9}   {}"
    return ["", f"3. A long ticket: loops, reminders, claims/releases ({LONG_SILENT} reminders in a row at the end; "
            f"median of {LONG_ROUNDS})",
            row.format("events", "replay s", "as-of last s", "as-of middle s", "target", "verdict"),
            row.format(long.events, f"{long.replay_s:.2f}", f"{long.as_of_last_s:.2f}", f"{long.as_of_middle_s:.2f}",
                       f"{LONG_TARGET_S:.0f} s", ("OK" if ok else "MISSED") + ("" if long.consistent else
                                                                               " (DIVERGENT)")),
            f"  the same replay without pruning the reminders' spent branches: {long.unpruned_s:.2f} s (one run)"]


if __name__ == "__main__":
    sys.exit(main())
