"""Benchmark: what the ticketflow engine layer costs on top of raw SpiffWorkflow.

Run from the repository root, with the project's virtualenv:

    .venv/bin/python -m bench.engine        (or: .venv/bin/python bench/engine.py)

One run (about half a minute) prints four measurements side by side, each against its target:

1. Raw floor. Lifecycles per second of stock SpiffWorkflow, in memory, on the same diagram
   (``bpmn/support_ticket.bpmn``, parsed once). The path is L1-direct: open, classify, assess
   (resolved at first level), apply solution, customer confirms resolved, process completed.
   Service tasks answer from fixed stubs; nothing is persisted.
2. Engine layer. The same path through ``Runtime.open_ticket`` / ``Runtime.complete_task`` with
   SQLite persistence: every step is one transaction (load, validate, step, history, worklist,
   compaction, serialization, commit). Rounds of raw and engine lifecycles alternate, so both
   see the same machine load. Target: engine time per lifecycle at most 3x the raw time.
3. Step cost vs loop count. One ticket is escalated into the "issue persists" loop (customer
   answers persists, L2 investigates, L2 fixes, L1 applies the solution) and driven past loop 500.
   The wall time of ``complete_task`` is taken over a window of loops around loops 1, 50, 100,
   200 and 500, with the size of the stored workflow JSON after that loop. Each window is
   interleaved loop by loop with a freshly escalated ticket at its first loops, so the
   loop-N/loop-1 ratio compares costs measured at the same moment, not minutes apart on a
   machine whose load changes. Target: loop 500 at most 1.3x loop 1.
   For contrast, raw SpiffWorkflow without compaction is driven round the same loop in memory
   until its task tree is too deep to walk (RecursionError, near loop 120).
5. Reminders while the customer stays silent. Tickets wait at the customer's validation task
   while its non-interrupting timer sends reminder after reminder. At reminder 1, 50 and 200 the
   wall time of ``fire_due_timers`` for that one reminder and of ``complete_task`` for the
   customer's answer (persists) are taken on each of several tickets, each beside a freshly
   escalated ticket at its reminder 1 fired and answered next to it (which of the two goes first
   alternates), with the stored workflow JSON after that reminder; in a database of its own, whose
   clock moves. Target: reminder 200 at most 1.3x reminder 1 (paired), for both, and the stored
   state bounded (at reminder 200 at most 1.3x its size at reminder 1).

Timings use ``time.perf_counter``; every figure is a median over repeated rounds or loops, after a
warm-up. The SQLite database lives in a temporary directory. The exit code is always 0: a
benchmark reports, it never fails the build.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

if TYPE_CHECKING:
    from engine.access import Actor
    from engine.execution.clock import FakeClock
    from engine.runtime import Runtime
    from engine.views import TicketView

REPO_ROOT = Path(__file__).resolve().parents[1]
DIAGRAM = REPO_ROOT / "bpmn" / "support_ticket.bpmn"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

LIFECYCLE_TARGET = 3.0  # engine time per lifecycle / raw time per lifecycle
LOOP_TARGET = 1.3  # engine step cost at loop 500 / at loop 1
REMINDER_TARGET = 1.3  # engine cost of a reminder, and of the answer after it, at reminder 200 / at reminder 1

ROUNDS = 11  # alternating rounds of raw and engine lifecycles
RAW_WARMUP, RAW_PER_ROUND = 30, 50
ENGINE_WARMUP, ENGINE_PER_ROUND = 5, 10
ENGINE_LOOP_POINTS = (1, 50, 100, 200, 500)
ENGINE_LOOP_WINDOW = 15  # loops measured around each point
RAW_LOOP_POINTS = (1, 50, 100)
RAW_LOOP_WINDOW = 5
RAW_LOOP_CAP = 200  # stop the raw loop here if it has not failed by then
REMINDER_POINTS = (1, 5, 50, 200)
# The growth target compares with reminder 5: from the unit's second unanswered reminder on (follow_up_after = 2),
# L1's follow-up call is open beside the customer's task, a branch of its own that reminder 1 does not have yet.
REMINDER_REFERENCE = 5
REMINDER_SAMPLES = 15  # tickets brought to each point, each beside a fresh ticket at its reminder 1

# -- the data a ticket is opened with and the forms people submit --------------------------------
ACTORS = {"l1": ("lena", "l1"), "l2": ("otto", "l2"), "customer": ("alice", "customer")}
INTAKE: dict[str, Any] = {
    "subject": "VPN drops every few minutes",
    "description": "Since this morning the VPN client disconnects every five minutes or so.",
    "customer": "alice",
    "contact": {"email": "alice@example.com"},
}
CLASSIFY = {"type": "incident", "impact": "medium", "urgency": "high"}
# The article L1 resolves with on the L1-direct path: a known solution, as the path's name says. Without it in the
# knowledge base every L1-direct closure drafted the same article again, and each search ranked the pile of drafts.
KEEPALIVE_ARTICLE = {
    "slug": "vpn-keepalive", "title": "VPN drops every few minutes: gateway idle timeout", "state": "published",
    "problem": "The VPN client disconnects every few minutes while the session is idle.",
    "cause": "The gateway's idle timeout is shorter than the client's keepalive interval.",
    "resolution": "Raise the gateway idle timeout above the keepalive interval, then reconnect the client.",
    "tags": "vpn disconnect keepalive gateway timeout"}
ASSESS_RESOLVE = {"resolve_at_first_level": True, "kb_article": KEEPALIVE_ARTICLE["slug"],
                  "assessment": "The keepalive article describes exactly this symptom."}
ASSESS_ESCALATE = {"resolve_at_first_level": False,
                   "assessment": "No article matches; looks like a gateway defect."}
ESCALATE = {"problem_description": "VPN sessions drop roughly every five minutes",
            "troubleshooting_steps": ["Reinstalled the client", "Tried a wired connection"],
            "escalation_reason": "Several customers affected; needs gateway logs."}
INVESTIGATE = {"logs_reviewed": "vpn-gateway logs 08:00-09:00", "reproduced": True,
               "root_cause": "Idle timeout on the gateway is shorter than the client keepalive."}
FIX = {"fix_details": "Raised the gateway idle timeout above the client keepalive interval.",
       "components_changed": ["gateway/idle.conf"], "fix_kind": "definitive"}
SOLUTION = {"actions_taken": "Applied the gateway timeout change and watched a session for an hour.",
            "configuration_changes": "gateway idle timeout 300s -> 900s",
            "observed_outcome": "The session stayed up for the whole hour.",
            "customer_message": "We changed a server setting that cut your VPN connection.",
            "customer_steps": ["Reconnect the VPN client"]}
KNOWN_SOLUTION = {**SOLUTION, "kb_article_used": KEEPALIVE_ARTICLE["slug"]}  # L1-direct: counted as a reuse
RESOLVED = {"validation_outcome": "resolved"}
PERSISTS = {"validation_outcome": "persists", "customer_comment": "Still failing."}


@dataclass(frozen=True)
class Step:
    """One user task of the path: which element must be ready, what is submitted, by whom."""

    element: str
    form: dict[str, Any]
    actor: str  # key into ACTORS


L1_DIRECT = (
    Step("classify_ticket", CLASSIFY, "l1"), Step("assess_first_level", ASSESS_RESOLVE, "l1"),
    Step("apply_solution", KNOWN_SOLUTION, "l1"), Step("test_and_confirm", RESOLVED, "customer"),
)
TO_PERSISTS_LOOP = (
    Step("classify_ticket", CLASSIFY, "l1"), Step("assess_first_level", ASSESS_ESCALATE, "l1"),
    Step("escalate_to_l2", ESCALATE, "l1"), Step("investigate_root_cause", INVESTIGATE, "l2"),
    Step("apply_definitive_fix", FIX, "l2"), Step("apply_solution", SOLUTION, "l1"),
)
PERSISTS_LOOP = (
    Step("test_and_confirm", PERSISTS, "customer"), Step("investigate_root_cause", INVESTIGATE, "l2"),
    Step("apply_definitive_fix", FIX, "l2"), Step("apply_solution", SOLUTION, "l1"),
)


def add_known_solution(runtime: Runtime) -> None:
    """Publish the article the L1-direct path resolves with (``KEEPALIVE_ARTICLE``)."""
    from engine.usecases.knowledge import create_article

    create_article(runtime, KEEPALIVE_ARTICLE)


def start_data(number: int) -> dict[str, Any]:
    """What the engine puts into a new workflow, for the raw runs."""
    return {"ticket_number": f"T-{number:06d}", "subject": INTAKE["subject"],
            "description": INTAKE["description"], "channel": "portal", "customer": INTAKE["customer"],
            "unit": "general"}


# -- raw SpiffWorkflow ------------------------------------------------------------------------------
class StubServices(TaskDataEnvironment):
    """Answers the diagram's service tasks with fixed results, as JSON (spiff json.loads them)."""

    def call_service(self, context: dict[str, Any], operation_name: str,  # type: ignore[override]
                     operation_params: dict[str, Any]) -> str:
        if operation_name == "request_customer_validation":
            return json.dumps({"response_window": "P3D", "respond_by": "2030-01-01T00:00:00+00:00",
                               "reminder_cycle": "2030-01-01T00:00:00+00:00/P3D",
                               "follow_up_at": "2030-01-10T00:00:00+00:00"})
        if operation_name == "priority_matrix":
            return json.dumps("P2")
        if operation_name == "knowledge_base_search":
            return json.dumps([])
        return json.dumps({})


class RawDriver:
    """Stock SpiffWorkflow in memory: the diagram is parsed once, nothing is persisted."""

    def __init__(self, diagram: Path = DIAGRAM) -> None:
        parser = SpiffBpmnParser(validator=VALIDATOR)
        parser.add_bpmn_file(str(diagram))
        process_id = parser.get_process_ids()[0]
        self.spec = parser.get_spec(process_id)
        self.subprocess_specs = parser.get_subprocess_specs(process_id)
        self.script_engine = PythonScriptEngine(environment=StubServices())
        self.started = 0

    def start(self) -> BpmnWorkflow:
        self.started += 1
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        data = start_data(self.started)
        workflow.task_tree.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        workflow.do_engine_steps()
        return workflow

    @staticmethod
    def complete(workflow: BpmnWorkflow, step: Step) -> float:
        """Complete the step's user task and run the engine on; return the wall time taken."""
        began = time.perf_counter()
        ready: list[Task] = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]
        if len(ready) != 1 or ready[0].task_spec.bpmn_id != step.element:
            found = [t.task_spec.bpmn_id for t in ready]
            raise RuntimeError(f"expected {step.element} to be ready, found {found}")
        task = ready[0]
        task.data.update(step.form)
        task.run()
        workflow.do_engine_steps()
        return time.perf_counter() - began

    def lifecycle(self) -> None:
        workflow = self.start()
        for step in L1_DIRECT:
            self.complete(workflow, step)
        if not workflow.is_completed():
            raise RuntimeError("the raw workflow did not complete")

    def escalated(self) -> BpmnWorkflow:
        """A workflow waiting for the customer's first answer in the persists loop."""
        workflow = self.start()
        for step in TO_PERSISTS_LOOP:
            self.complete(workflow, step)
        return workflow


# -- the ticketflow engine ------------------------------------------------------------------------
def ensure_repo_importable() -> None:
    """Run as ``python bench/engine.py``, this file's folder would shadow the ``engine`` package."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != here]
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


class EngineDriver:
    """The project's runtime over a fresh, migrated SQLite database, wired like production."""

    def __init__(self, folder: Path) -> None:
        from engine.access import Actor
        from engine.config import EngineConfig
        from engine.execution.clock import FakeClock
        from engine.store.db import upgrade
        from ticketflow.composition import deploy_file, make_runtime

        self.db_path = folder / "bench.db"
        url = f"sqlite:///{self.db_path}"
        upgrade(url)
        self.clock: FakeClock = FakeClock(START)
        self.runtime: Runtime = make_runtime(EngineConfig(database_url=url), self.clock)
        deploy_file(self.runtime)
        add_known_solution(self.runtime)
        self.actors: dict[str, Actor] = {key: Actor(name, role) for key, (name, role) in ACTORS.items()}

    def open(self) -> TicketView:
        from engine.usecases.tickets import TicketIntake

        return self.runtime.open_ticket(TicketIntake(**INTAKE), self.actors["customer"])

    def complete(self, view: TicketView, step: Step) -> tuple[TicketView, float]:
        """Complete the step's task; return the new view and the wall time of ``complete_task``."""
        # Beside the customer's answer, L1's follow-up call may be open (after enough silent reminders).
        task = next((t for t in view.ready_tasks if t.element_id == step.element), None)
        if task is None:
            found = [t.element_id for t in view.ready_tasks]
            raise RuntimeError(f"{view.number}: expected {step.element} ready, found {found}")
        began = time.perf_counter()
        view = self.runtime.complete_task(task.id, step.form, self.actors[step.actor])
        return view, time.perf_counter() - began

    def lifecycle(self) -> None:
        view = self.open()
        for step in L1_DIRECT:
            view, _ = self.complete(view, step)
        if view.status != "closed":
            raise RuntimeError(f"{view.number} ended {view.status}, not closed")

    def escalated(self) -> TicketView:
        """A ticket waiting for the customer's first answer in the persists loop."""
        view = self.open()
        for step in TO_PERSISTS_LOOP:
            view, _ = self.complete(view, step)
        return view

    def persists_loop(self, view: TicketView) -> tuple[TicketView, float]:
        """One round of the persists loop; return the new view and the mean ms per step."""
        seconds = 0.0
        for step in PERSISTS_LOOP:
            view, took = self.complete(view, step)
            seconds += took
        return view, seconds * 1000.0 / len(PERSISTS_LOOP)

    def fire_reminder(self, view: TicketView) -> float:
        """Fire the ticket's next reminder (it must be the only timer due); return the wall time taken."""
        due = view.next_timer_at
        if due is None:
            raise RuntimeError(f"{view.number} has no timer pending")
        self.clock.now = max(self.clock.now, due + timedelta(seconds=1))
        began = time.perf_counter()
        fired = self.runtime.fire_due_timers()
        took = time.perf_counter() - began
        if fired != [view.number]:
            raise RuntimeError(f"expected only {view.number}'s reminder to be due, fired {fired}")
        return took

    def stored_state(self, number: str) -> tuple[int, int]:
        """Bytes of the stored workflow JSON and the number of tasks in it."""
        with closing(sqlite3.connect(self.db_path)) as conn:
            (state,) = conn.execute("select workflow from ticket where number = ?", (number,)).fetchone()
        return len(state.encode()), len(json.loads(state)["tasks"])

    def close(self) -> None:
        bind = self.runtime.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()


@contextmanager
def engine_driver() -> Iterator[EngineDriver]:
    with tempfile.TemporaryDirectory(prefix="ticketflow-bench-") as folder:
        driver = EngineDriver(Path(folder))
        try:
            yield driver
        finally:
            driver.close()


# -- sections 1 and 2: lifecycles, raw and engine rounds alternating --------------------------------
@dataclass(frozen=True)
class Workload:
    call: Callable[[], None]
    warmup: int
    per_round: int


@dataclass(frozen=True)
class Rate:
    """Milliseconds per call: the median of the rounds, and the fastest and slowest round."""

    median_ms: float
    low_ms: float
    high_ms: float

    @property
    def per_second(self) -> float:
        return 1000.0 / self.median_ms


def time_round(work: Workload) -> float:
    gc.collect()
    began = time.perf_counter()
    for _ in range(work.per_round):
        work.call()
    return (time.perf_counter() - began) * 1000.0 / work.per_round


def measure_interleaved(workloads: Sequence[Workload], rounds: int) -> list[Rate]:
    """Ms per call of each workload, their rounds alternating so they share the machine's load."""
    for work in workloads:
        for _ in range(work.warmup):
            work.call()
    results: list[list[float]] = [[] for _ in workloads]
    for _ in range(rounds):
        for work, times in zip(workloads, results, strict=True):
            times.append(time_round(work))
    return [Rate(statistics.median(t), min(t), max(t)) for t in results]


def bench_lifecycles(raw: RawDriver, engine: EngineDriver) -> tuple[Rate, Rate]:
    raw_rate, engine_rate = measure_interleaved(
        [Workload(raw.lifecycle, RAW_WARMUP, RAW_PER_ROUND),
         Workload(engine.lifecycle, ENGINE_WARMUP, ENGINE_PER_ROUND)], ROUNDS)
    return raw_rate, engine_rate


# -- section 3: the persists loop -------------------------------------------------------------------
@dataclass
class LoopPoint:
    """Step cost around one loop count, and the size of the state right after that loop."""

    loop: int
    loop_ms: list[float] = field(default_factory=list)  # mean ms per step, one entry per loop
    fresh_ms: list[float] = field(default_factory=list)  # the same, fresh ticket, interleaved
    state_bytes: int | None = None
    state_tasks: int | None = None

    @property
    def step_ms(self) -> float | None:
        return statistics.median(self.loop_ms) if self.loop_ms else None

    @property
    def fresh_step_ms(self) -> float | None:
        return statistics.median(self.fresh_ms) if self.fresh_ms else None

    @property
    def paired_ratio(self) -> float | None:
        if self.step_ms is None or not self.fresh_step_ms:
            return None
        return self.step_ms / self.fresh_step_ms


def windows(points: Sequence[int], width: int) -> dict[int, range]:
    """Loops measured for each point: ``width`` loops around it, never before loop 1."""
    result = {}
    for point in points:
        first = max(1, point - width // 2)
        result[point] = range(first, first + width)
    return result


def point_of_loop(spans: dict[int, range]) -> dict[int, int]:
    return {loop: point for point, span in spans.items() for loop in span}


def bench_engine_loop(driver: EngineDriver) -> dict[int, LoopPoint]:
    spans = windows(ENGINE_LOOP_POINTS, ENGINE_LOOP_WINDOW)
    owner = point_of_loop(spans)
    results = {point: LoopPoint(point) for point in ENGINE_LOOP_POINTS}
    view = driver.escalated()
    fresh = view
    gc.collect()
    for loop in range(1, max(span.stop for span in spans.values())):
        point = owner.get(loop)
        if point is not None and loop == spans[point].start:
            fresh = driver.escalated()  # the loop-1 reference measured alongside this window
        view, step_ms = driver.persists_loop(view)
        if point is not None:
            results[point].loop_ms.append(step_ms)
            fresh, fresh_ms = driver.persists_loop(fresh)
            results[point].fresh_ms.append(fresh_ms)
        if loop in results:
            results[loop].state_bytes, results[loop].state_tasks = driver.stored_state(view.number)
    return results


@dataclass
class RawLoopResult:
    points: dict[int, LoopPoint]
    failed_at: int | None = None  # loop whose steps raised RecursionError
    failure: str = ""


def raw_loop_ms(driver: RawDriver, workflow: BpmnWorkflow) -> float:
    seconds = sum(driver.complete(workflow, step) for step in PERSISTS_LOOP)
    return seconds * 1000.0 / len(PERSISTS_LOOP)


def bench_raw_loop(driver: RawDriver) -> RawLoopResult:
    owner = point_of_loop(windows(RAW_LOOP_POINTS, RAW_LOOP_WINDOW))
    result = RawLoopResult({point: LoopPoint(point) for point in RAW_LOOP_POINTS})
    workflow = driver.escalated()
    gc.collect()
    for loop in range(1, RAW_LOOP_CAP + 1):
        try:
            step_ms = raw_loop_ms(driver, workflow)
        except RecursionError as exc:
            result.failed_at, result.failure = loop, f"RecursionError: {exc}"
            break
        if loop in owner:
            result.points[owner[loop]].loop_ms.append(step_ms)
        if loop in result.points:
            result.points[loop].state_tasks = len(workflow.tasks)
    return result


# -- section 5: reminders while the customer stays silent ----------------------------------------------
@dataclass
class ReminderPoint:
    """The cost of one reminder and of the answer after it, at one reminder count, beside a fresh ticket."""

    reminder: int
    fire_s: list[float] = field(default_factory=list)
    fresh_fire_s: list[float] = field(default_factory=list)
    answer_s: list[float] = field(default_factory=list)
    fresh_answer_s: list[float] = field(default_factory=list)
    state_bytes: int | None = None
    state_tasks: int | None = None
    way_s: list[float] = field(default_factory=list)  # every reminder before it, on the first ticket brought there


def median_ms(seconds: list[float]) -> float | None:
    """The median of timings taken in seconds, in milliseconds."""
    return statistics.median(seconds) * 1000.0 if seconds else None


def paired(mine: list[float], fresh: list[float]) -> float | None:
    """Median of one figure over the median of its fresh partner's, both measured side by side."""
    ours, theirs = median_ms(mine), median_ms(fresh)
    return ours / theirs if ours is not None and theirs else None


def reminder_pair(driver: EngineDriver, point: ReminderPoint, fresh_first: bool) -> tuple[TicketView, TicketView]:
    """A ticket one reminder short of ``reminder`` and a fresh one with none, whose next reminders fall due
    in the given order (the order alternates between samples, so neither is always measured first)."""
    fresh, reminder, way = None, point.reminder, not point.way_s
    driver.clock.now += timedelta(minutes=1)  # each ticket's timers fall due at a moment of their own
    if fresh_first and reminder == 1:
        fresh = driver.escalated()
        driver.clock.now += timedelta(minutes=1)
    view = driver.escalated()
    for sent in range(1, reminder):
        if fresh_first and sent == reminder - 1:
            # Opened between two of the ticket's reminders, with the same cycle: its first falls due just before.
            driver.clock.now += timedelta(minutes=1)
            fresh = driver.escalated()
        took = driver.fire_reminder(view)
        if way:
            point.way_s.append(took)
        view = driver.runtime.get_ticket(view.number)
    if fresh is None:
        driver.clock.now += timedelta(minutes=1)  # opened after the reminders: its first falls due last
        fresh = driver.escalated()
    return view, fresh


def reminder_sample(driver: EngineDriver, point: ReminderPoint, fresh_first: bool) -> None:
    """One ticket brought to the point's reminder, fired and answered beside a fresh one at its reminder 1."""
    view, fresh = reminder_pair(driver, point, fresh_first)
    order = ((fresh, point.fresh_fire_s, point.fresh_answer_s), (view, point.fire_s, point.answer_s))
    if not fresh_first:
        order = order[::-1]
    gc.collect()
    for ticket, fire_s, _ in order:
        fire_s.append(driver.fire_reminder(ticket))
    if point.state_bytes is None:
        point.state_bytes, point.state_tasks = driver.stored_state(view.number)
    for ticket, _, answer_s in order:
        answer_s.append(driver.complete(driver.runtime.get_ticket(ticket.number), PERSISTS_LOOP[0])[1])


def bench_reminders(driver: EngineDriver) -> dict[int, ReminderPoint]:
    points = {reminder: ReminderPoint(reminder) for reminder in REMINDER_POINTS}
    for point in points.values():
        for sample in range(REMINDER_SAMPLES):
            reminder_sample(driver, point, fresh_first=sample % 2 == 1)
    return points


# -- 4. sandbox guards ------------------------------------------------------------------------------
GUARD_ROUNDS, GUARD_PER_ROUND = 7, 2000
GUARD_DATA: dict[str, Any] = {
    "resolve_at_first_level": True, "validation_outcome": "resolved", "validation_request": {
        "response_window": "P3D", "follow_up_at": "2030-01-10T00:00:00+00:00"},
    "subject": INTAKE["subject"], "description": INTAKE["description"], "type": "incident", "impact": "high",
    "urgency": "medium", "customer_message": "Fixed.", "customer_steps": ["Reconnect"],
}


def diagram_expressions(diagram: Path = DIAGRAM) -> list[str]:
    """Every expression of the diagram: gateway conditions, timers and service parameters."""
    from lxml import etree

    from engine.process.lint import NS

    tree = etree.parse(str(diagram))
    texts = tree.xpath("//bpmn:conditionExpression/text()|//bpmn:timerEventDefinition/*/text()", namespaces=NS)
    values = tree.xpath("//spiffworkflow:parameter/@value", namespaces=NS)
    return [str(text).strip() for text in [*texts, *values]]


def bench_guards() -> tuple[float, float, int]:
    """Median µs to evaluate all the diagram's expressions once: (guarded, unguarded, how many)."""
    from RestrictedPython import compile_restricted_eval

    from engine.process.sandbox import _GUARDS, SandboxEnvironment

    expressions = diagram_expressions()
    guarded_env = SandboxEnvironment()
    plain = [code for code in (compile_restricted_eval(e).code for e in expressions)  # RestrictedPython alone
             if code is not None]

    def guarded() -> None:
        for expression in expressions:
            guarded_env.evaluate(expression, GUARD_DATA)

    def unguarded() -> None:
        for code in plain:
            eval(code, {**_GUARDS, **GUARD_DATA})  # noqa: S307 - the diagram's own expressions

    timings: dict[str, list[float]] = {"guarded": [], "unguarded": []}
    for _ in range(GUARD_ROUNDS):
        for name, work in (("guarded", guarded), ("unguarded", unguarded)):
            began = time.perf_counter()
            for _ in range(GUARD_PER_ROUND):
                work()
            timings[name].append((time.perf_counter() - began) / GUARD_PER_ROUND * 1e6)
    return statistics.median(timings["guarded"]), statistics.median(timings["unguarded"]), len(expressions)


def guard_report(guarded_us: float, unguarded_us: float, count: int, eng: Rate) -> list[str]:
    overhead = guarded_us - unguarded_us
    return ["", f"4. Sandbox guards (time and memory bounds): the diagram's {count} expressions, each evaluated once",
            f"  guarded {guarded_us:.1f} us, unguarded (RestrictedPython alone) {unguarded_us:.1f} us: "
            f"overhead {overhead:.1f} us = {overhead / 1000 / eng.median_ms:.2%} of an engine lifecycle"]


# -- report ---------------------------------------------------------------------------------------
def verdict(ratio: float | None, target: float) -> str:
    if ratio is None:
        return "n/a"
    return "OK" if ratio <= target else "MISSED"


def fmt(value: float | int | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else format(value, spec) + suffix


def header() -> list[str]:
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("SpiffWorkflow", "SQLAlchemy"))
    return [
        "ticketflow engine benchmark",
        f"  Python {platform.python_version()}, {versions}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start",
        f"  diagram {DIAGRAM.relative_to(REPO_ROOT)}",
    ]


def lifecycle_report(raw: Rate, eng: Rate) -> list[str]:
    ratio = eng.median_ms / raw.median_ms
    row = "  {:<36}{:>14}{:>15}{:>24}"
    lines = ["", "1-2. L1-direct lifecycle: open, classify, assess (L1), apply solution, resolved -> closed",
             f"     median of {ROUNDS} alternating rounds of {RAW_PER_ROUND} raw / {ENGINE_PER_ROUND} engine "
             "lifecycles, after warm-up",
             row.format("", "ms/lifecycle", "lifecycles/s", "rounds min..max ms")]
    for label, rate in (("raw SpiffWorkflow, in memory", raw), ("ticketflow engine + SQLite", eng)):
        lines.append(row.format(label, f"{rate.median_ms:.2f}", f"{rate.per_second:.1f}",
                                f"{rate.low_ms:.2f}..{rate.high_ms:.2f}"))
    lines.append(row.format("ratio engine/raw (time/lifecycle)", f"{ratio:.2f}x",
                            f"<= {LIFECYCLE_TARGET:.1f}x", verdict(ratio, LIFECYCLE_TARGET)))
    lines.append(f"     the same ratio between the fastest rounds (noise only ever adds time): "
                 f"{eng.low_ms / raw.low_ms:.2f}x")
    return lines


def loop_table(engine_points: dict[int, LoopPoint], raw: RawLoopResult) -> list[str]:
    row = "  {:>5}{:>11}{:>11}{:>9}{:>13}{:>8}{:>11}{:>11}"
    lines = [row.format("loop", "engine", "fresh", "ratio", "state", "state", "raw", "raw"),
             row.format("", "ms/step", "ms/step", "", "bytes", "tasks", "ms/step", "tasks")]
    for loop in sorted(set(engine_points) | set(raw.points)):
        eng = engine_points.get(loop, LoopPoint(loop))
        raw_point = raw.points.get(loop, LoopPoint(loop))
        lines.append(row.format(
            loop, fmt(eng.step_ms, ".2f"), fmt(eng.fresh_step_ms, ".2f"), fmt(eng.paired_ratio, ".2f", "x"),
            fmt(eng.state_bytes, ","), fmt(eng.state_tasks, "d"), fmt(raw_point.step_ms, ".2f"),
            fmt(raw_point.state_tasks, "d")))
    return lines


def loop_notes(engine_points: dict[int, LoopPoint], raw: RawLoopResult) -> list[str]:
    first, last = engine_points[ENGINE_LOOP_POINTS[0]], engine_points[ENGINE_LOOP_POINTS[-1]]
    lines = []
    if first.step_ms and last.step_ms:
        lines.append(f"  unpaired, same ticket: loop {last.loop} / loop {first.loop} = "
                     f"{last.step_ms / first.step_ms:.2f}x (measured minutes apart; load may differ)")
    if first.state_bytes and last.state_bytes:
        lines.append(f"  stored state: loop {last.loop} / loop {first.loop} = "
                     f"{last.state_bytes / first.state_bytes:.2f}x ({last.state_bytes:,} bytes) - bounded")
    raw_first, raw_last = raw.points[RAW_LOOP_POINTS[0]], raw.points[RAW_LOOP_POINTS[-1]]
    if raw_first.step_ms and raw_last.step_ms:
        lines.append(f"  raw SpiffWorkflow, no compaction: loop {raw_last.loop} / loop {raw_first.loop} = "
                     f"{raw_last.step_ms / raw_first.step_ms:.1f}x")
    if raw.failed_at is not None:
        lines += [f"  raw SpiffWorkflow failed at loop {raw.failed_at} (task tree too deep to walk):",
                  f"    {raw.failure}"]
    else:
        lines.append(f"  raw SpiffWorkflow did not fail within {RAW_LOOP_CAP} loops")
    return lines


def loop_report(engine_points: dict[int, LoopPoint], raw: RawLoopResult) -> list[str]:
    last = engine_points[ENGINE_LOOP_POINTS[-1]]
    lines = ["", "3. Step cost vs loop count: persists -> L2 investigate -> L2 fix -> L1 solution",
             f"   ms/step: median over {ENGINE_LOOP_WINDOW} loops around the loop count "
             f"(raw: {RAW_LOOP_WINDOW}) of the mean complete_task wall time",
             "   of the loop's 4 steps; fresh: a newly escalated ticket at its loops 1.."
             f"{ENGINE_LOOP_WINDOW}, interleaved loop by loop;",
             "   ratio = engine/fresh; state: stored workflow JSON after that loop (raw: tasks in memory)"]
    lines += loop_table(engine_points, raw)
    lines.append(f"  loop {last.loop} / loop 1 (paired): {fmt(last.paired_ratio, '.2f', 'x')}   "
                 f"target <= {LOOP_TARGET:.1f}x   {verdict(last.paired_ratio, LOOP_TARGET)}")
    return lines + loop_notes(engine_points, raw)


def reminder_table(points: dict[int, ReminderPoint]) -> list[str]:
    row = "  {:>8}{:>9}{:>9}{:>8}{:>10}{:>9}{:>8}{:>11}{:>7}"
    lines = [row.format("reminder", "fire", "fresh", "ratio", "answer", "fresh", "ratio", "state", "state"),
             row.format("", "ms", "ms", "", "ms", "ms", "", "bytes", "tasks")]
    for reminder, point in sorted(points.items()):
        lines.append(row.format(
            reminder, fmt(median_ms(point.fire_s), ".2f"), fmt(median_ms(point.fresh_fire_s), ".2f"),
            fmt(paired(point.fire_s, point.fresh_fire_s), ".2f", "x"), fmt(median_ms(point.answer_s), ".2f"),
            fmt(median_ms(point.fresh_answer_s), ".2f"),
            fmt(paired(point.answer_s, point.fresh_answer_s), ".2f", "x"), fmt(point.state_bytes, ","),
            fmt(point.state_tasks, "d")))
    return lines


def reminder_ratios(points: dict[int, ReminderPoint], reference: int = REMINDER_REFERENCE
                    ) -> tuple[float | None, float | None, float | None]:
    """Reminder-last over the reference reminder: firing and answering (each first paired with its fresh
    ticket, so load on the machine cancels out), and stored bytes."""
    first, last = points[reference], points[REMINDER_POINTS[-1]]
    ratios = []
    for mine, theirs in ((last.fire_s, last.fresh_fire_s), (last.answer_s, last.fresh_answer_s)):
        now, then = paired(mine, theirs), paired(*((first.fire_s, first.fresh_fire_s) if mine is last.fire_s
                                                  else (first.answer_s, first.fresh_answer_s)))
        ratios.append(now / then if now is not None and then else None)
    state = last.state_bytes / first.state_bytes if last.state_bytes and first.state_bytes else None
    return ratios[0], ratios[1], state


def reminder_report(points: dict[int, ReminderPoint]) -> list[str]:
    last, ref = points[REMINDER_POINTS[-1]], REMINDER_REFERENCE
    fire, answer, state = reminder_ratios(points)
    since_first = reminder_ratios(points, REMINDER_POINTS[0])
    worst = max(fire, answer) if fire is not None and answer is not None else None
    lines = ["", "5. Reminders while the customer stays silent: a reminder fires, then the customer answers persists",
             f"   ms: median over {REMINDER_SAMPLES} tickets at that reminder of the fire_due_timers wall time (fire)",
             "   and the complete_task wall time (answer); fresh: a newly escalated ticket at its reminder 1, fired",
             "   and answered right after each; ratio = engine/fresh; state: stored workflow JSON after that reminder"]
    lines += reminder_table(points)
    lines.append(f"  reminder {last.reminder} / reminder {ref} (paired): fire {fmt(fire, '.2f', 'x')}, "
                 f"answer {fmt(answer, '.2f', 'x')}   target <= {REMINDER_TARGET:.1f}x   "
                 f"{verdict(worst, REMINDER_TARGET)}")
    lines.append(f"  reminder {last.reminder} / reminder 1 (paired): fire {fmt(since_first[0], '.2f', 'x')}, answer "
                 f"{fmt(since_first[1], '.2f', 'x')}, state {fmt(since_first[2], '.2f', 'x')} (before reminder "
                 f"{ref} the follow-up call is not open yet: one branch less)")
    lows = [min(mine) / min(fresh) for mine, fresh in ((last.fire_s, last.fresh_fire_s),
                                                        (last.answer_s, last.fresh_answer_s)) if mine and fresh]
    if len(lows) == 2:
        lines.append(f"     the same ratios between the fastest samples (noise only adds time): fire {lows[0]:.2f}x, "
                     f"answer {lows[1]:.2f}x")
    way = last.way_s
    if len(way) >= 30:
        lines.append(f"  unpaired, one ticket: its reminders {len(way) - 14}..{len(way)} / its reminders 1..15 = "
                     f"{statistics.median(way[-15:]) / statistics.median(way[:15]):.2f}x (fire; measured apart)")
    lines.append(f"  stored state: reminder {last.reminder} / reminder {ref} = {fmt(state, '.2f', 'x')} "
                 f"({fmt(last.state_bytes, ',')} bytes, {fmt(last.state_tasks, 'd')} tasks)   "
                 f"target <= {REMINDER_TARGET:.1f}x (bounded)   {verdict(state, REMINDER_TARGET)}")
    return lines


def summary(raw: Rate, eng: Rate, engine_points: dict[int, LoopPoint]) -> list[str]:
    life = eng.median_ms / raw.median_ms
    loop = engine_points[ENGINE_LOOP_POINTS[-1]].paired_ratio
    row = "  {:<44}{:>10}{:>12}{:>9}"
    loop_label = f"engine step cost loop {ENGINE_LOOP_POINTS[-1]}/loop 1 (paired)"
    return ["", "Targets", row.format("measure", "measured", "target", "verdict"),
            row.format("engine/raw time per lifecycle", f"{life:.2f}x", f"<= {LIFECYCLE_TARGET:.1f}x",
                       verdict(life, LIFECYCLE_TARGET)),
            row.format(loop_label, fmt(loop, ".2f", "x"), f"<= {LOOP_TARGET:.1f}x",
                       verdict(loop, LOOP_TARGET))]


def reminder_summary(points: dict[int, ReminderPoint]) -> list[str]:
    last = REMINDER_POINTS[-1]
    row = "  {:<44}{:>10}{:>12}{:>9}"
    ref = REMINDER_REFERENCE
    labels = (f"reminder {last}/reminder {ref} fire (paired)", f"reminder {last}/reminder {ref} answer (paired)",
              f"stored state reminder {last}/reminder {ref}")
    return [row.format(label, fmt(ratio, ".2f", "x"), f"<= {REMINDER_TARGET:.1f}x", verdict(ratio, REMINDER_TARGET))
            for label, ratio in zip(labels, reminder_ratios(points), strict=True)]


def main() -> int:
    began = time.perf_counter()
    print("\n".join(header()), flush=True)
    ensure_repo_importable()
    raw = RawDriver()
    with engine_driver() as engine:
        raw_rate, engine_rate = bench_lifecycles(raw, engine)
        raw_loop = bench_raw_loop(raw)
        engine_points = bench_engine_loop(engine)
    with engine_driver() as silent:  # a database of its own: its clock moves, and only its timers fall due
        reminder_points = bench_reminders(silent)
    lines = lifecycle_report(raw_rate, engine_rate) + loop_report(engine_points, raw_loop)
    lines += guard_report(*bench_guards(), engine_rate)
    lines += reminder_report(reminder_points)
    lines += summary(raw_rate, engine_rate, engine_points) + reminder_summary(reminder_points)
    lines.append(f"\n  total benchmark time {time.perf_counter() - began:.1f}s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
