"""Time and memory bounds of diagram code: refused at deploy where visible, stopped at run time where not."""
from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

import tasks
from engine.config import DEFAULT_LANE_ROLES, EngineConfig
from engine.errors import SandboxViolation
from engine.process.definitions import DefinitionLoader, read_bundle
from engine.process.guards import SandboxLimits, configure_limits
from engine.process.lint import NS
from engine.process.sandbox import SandboxEnvironment, expression_problem
from tests.unit.test_definitions import edited, only

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
BUNDLED_BPMN, BUNDLED_FORMS = read_bundle(DIAGRAM)
TIME_LIMIT = 0.5
GENEROUS_SECONDS = TIME_LIMIT + 2.5  # the bound that must hold, with room for a loaded machine
GENEROUS_PEAK_BYTES = 200 * 2**20  # the memory limit is 64 MB; what is refused is never built

HOSTILE_CONSTANTS = ["10**10**10", "'a'*10**10", "1<<10**10", "[0]*10**9", "sum(range(10**12))",
                     "resolve_at_first_level == True and 10**10**10 > 0"]


@pytest.fixture(autouse=True)
def tight_limits() -> Iterator[None]:
    previous = configure_limits(TIME_LIMIT, 64)
    yield
    configure_limits(previous.seconds, previous.memory_mb)


@pytest.fixture
def loader() -> DefinitionLoader:
    return DefinitionLoader(list(tasks.build_registry()), DEFAULT_LANE_ROLES)




def problems_with(loader: DefinitionLoader, change: Callable[[etree._Element], None]) -> list[str]:
    return loader.check(edited(change), BUNDLED_FORMS)


# -- refused at deploy ------------------------------------------------------------------------------

@pytest.mark.parametrize("expression", HOSTILE_CONSTANTS)
def test_a_constant_bomb_in_a_gateway_condition_is_refused_at_deploy_naming_the_flow(
        loader: DefinitionLoader, expression: str) -> None:
    def inject(root: etree._Element) -> None:
        only(root, "//bpmn:sequenceFlow[@id='flow_first_level_yes']/bpmn:conditionExpression").text = expression

    problems = problems_with(loader, inject)
    assert any("condition of sequenceFlow 'flow_first_level_yes'" in p and "sandbox" in p for p in problems), problems


@pytest.mark.parametrize("expression", HOSTILE_CONSTANTS)
def test_a_constant_bomb_in_a_service_parameter_is_refused_at_deploy_naming_the_task(
        loader: DefinitionLoader, expression: str) -> None:
    def inject(root: etree._Element) -> None:
        only(root, "//spiffworkflow:parameter[@id='query']").set("value", expression)

    problems = problems_with(loader, inject)
    assert any("parameter 'query'" in p and "'search_knowledge_base'" in p for p in problems), problems


def test_a_constant_bomb_in_a_timer_is_refused_at_deploy_naming_the_event(loader: DefinitionLoader) -> None:
    def inject(root: etree._Element) -> None:
        only(root, "//bpmn:timeCycle").text = '"R/PT" + str(10**10**10) + "H"'

    problems = problems_with(loader, inject)
    assert any("timer of boundaryEvent 'response_window_passed'" in p and "bits" in p for p in problems), problems


def test_a_while_loop_in_a_script_is_refused_at_deploy_saying_a_diagram_needs_none(
        loader: DefinitionLoader) -> None:
    def inject(root: etree._Element) -> None:
        task = only(root, "//bpmn:userTask[@id='assess_first_level']/bpmn:extensionElements")
        script = etree.SubElement(task, f"{{{NS['spiffworkflow']}}}preScript")
        script.text = "while True:\n    pass"

    problems = problems_with(loader, inject)
    assert any("script of userTask 'assess_first_level'" in p and "needs no unbounded loop" in p
               for p in problems), problems


def test_the_bundled_diagram_still_passes_every_check(loader: DefinitionLoader) -> None:
    assert loader.check(BUNDLED_BPMN, BUNDLED_FORMS) == []


@pytest.mark.parametrize("expression", ["2**64", "'-' * 40", "1 << 16", "[0] * 10", "sum(range(100))",
                                        "'%05d' % 42", "f'{priority:>3}'"])
def test_ordinary_constant_expressions_pass_the_deploy_check(expression: str) -> None:
    assert expression_problem(expression) is None


# -- stopped at run time ----------------------------------------------------------------------------

RUNTIME_BOMBS = {
    "power-from-data": ("x ** x", {"x": 10**6}),
    "sum-of-a-range-from-data": ("sum(range(n))", {"n": 10**12}),
    "nested-comprehension": ("len([[[i for i in range(n)] for j in range(n)] for k in range(n)])", {"n": 1000}),
    "padding-width-from-data": ("subject.ljust(width)", {"subject": "a", "width": 10**10}),
    "f-string-width-from-data": ("f'{subject:>{width}}'", {"subject": "a", "width": 10**10}),
    "lambda-recursion": ("(lambda f: f(f, n))(lambda f, k: 1 if k == 0 else f(f, k - 1) + f(f, k - 1))", {"n": 40}),
    "join-of-repeats": ("''.join([text] * n)", {"text": "a" * 10**6, "n": 10**4}),
    "replace-amplifies": ("text.replace('a', text)", {"text": "a" * 10**5}),
    "negative-round": ("round(5, -n)", {"n": 10**9}),
}


def stopped(run: Callable[[], object]) -> tuple[SandboxViolation, float, int]:
    """Run ``run``; return the violation it raised, the seconds it took and its traced peak bytes."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SandboxViolation) as raised:
            run()
        return raised.value, time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(RUNTIME_BOMBS))
def test_an_expression_that_explodes_on_its_data_is_stopped_within_the_limits(name: str) -> None:
    expression, data = RUNTIME_BOMBS[name]
    assert expression_problem(expression) is None  # nothing to see at deploy
    violation, seconds, peak = stopped(lambda: SandboxEnvironment().evaluate(expression, dict(data)))
    assert seconds < GENEROUS_SECONDS
    assert peak < GENEROUS_PEAK_BYTES
    assert "Traceback" not in violation.detail


@pytest.mark.parametrize(("expression", "data", "expected"), [
    ("x ** x", {"x": 5}, 3125),
    ("sum(range(n))", {"n": 10}, 45),
    ("subject.ljust(width, '.')", {"subject": "ab", "width": 4}, "ab.."),
    ("f'{subject:>{width}}'", {"subject": "ab", "width": 4}, "  ab"),
    ("f'{subject!r:>6}'", {"subject": "ab", "width": 4}, "  'ab'"),
    ("(lambda f: f(f, n))(lambda f, k: 1 if k == 0 else f(f, k - 1) + f(f, k - 1))", {"n": 4}, 16),
    ("', '.join(names).replace('a', 'A')", {"names": ["ann", "bea"]}, "Ann, beA"),
    ("'%s-%03d' % (prefix, n)", {"prefix": "T", "n": 7}, "T-007"),
    ("[t * 2 for t in items if t > 1]", {"items": [1, 2, 3]}, [4, 6]),
    ("sum(lists, [])", {"lists": [[1], [2, 3]]}, [1, 2, 3]),
])
def test_the_same_expressions_on_ordinary_data_evaluate_as_python_does(expression: str, data: dict,
                                                                      expected: object) -> None:
    assert SandboxEnvironment().evaluate(expression, data) == expected


def test_a_loop_in_a_script_is_stopped_at_the_deadline() -> None:
    script = "total = 0\nfor i in range(n):\n    for j in range(n):\n        total += i * j"
    violation, seconds, _ = stopped(lambda: SandboxEnvironment().execute(script, {"n": 10**6}))
    assert "took longer than 0.5 s" in violation.detail
    assert seconds < GENEROUS_SECONDS


def test_a_string_doubled_in_a_loop_is_stopped_by_the_memory_budget() -> None:
    script = "text = 'ab'\nfor i in range(100):\n    text = text + text"
    violation, _, peak = stopped(lambda: SandboxEnvironment().execute(script, {}))
    assert "64 MB" in violation.detail
    assert peak < GENEROUS_PEAK_BYTES


def test_a_list_extended_by_itself_in_a_loop_is_stopped_by_the_memory_budget() -> None:
    script = "items = [0] * 1000\nfor i in range(100):\n    items.extend(items)"
    violation, _, peak = stopped(lambda: SandboxEnvironment().execute(script, {}))
    assert "64 MB" in violation.detail
    assert peak < GENEROUS_PEAK_BYTES


def test_each_evaluation_gets_its_own_budget() -> None:
    env = SandboxEnvironment()
    for _ in range(5):  # 5 x 40 MB is over one evaluation's 64 MB, but each one stays within it
        assert env.evaluate("len('a' * n)", {"n": 40 * 2**20}) == 40 * 2**20


def test_scripts_keep_augmented_assignment_functions_and_loops() -> None:
    context = {"n": 4}
    SandboxEnvironment().execute(
        "total = 0\nfor i in range(n):\n    total += i\nnames = ['a']\nnames += ['b']\nnames.extend(['c'])\n"
        "def double(value):\n    return value * 2\nlabel = double('ab')", context)
    assert context == {"n": 4, "total": 6, "i": 3, "names": ["a", "b", "c"], "label": "abab"}


@pytest.mark.parametrize("script", ["class Box:\n    pass", "items = [*names, *names]", "names[:0] = names"])
def test_constructs_no_diagram_needs_and_guards_cannot_size_are_refused(script: str) -> None:
    assert expression_problem(script, script=True) is not None


# -- settings ---------------------------------------------------------------------------------------

def test_the_limits_come_from_the_environment_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETFLOW_SANDBOX_SECONDS", raising=False)
    monkeypatch.delenv("TICKETFLOW_SANDBOX_MEMORY_MB", raising=False)
    assert (EngineConfig.from_env().sandbox_seconds, EngineConfig.from_env().sandbox_memory_mb) == (2.0, 64)
    monkeypatch.setenv("TICKETFLOW_SANDBOX_SECONDS", "0.25")
    monkeypatch.setenv("TICKETFLOW_SANDBOX_MEMORY_MB", "16")
    assert SandboxLimits.from_env() == SandboxLimits(seconds=0.25, memory_mb=16)
    assert (EngineConfig.from_env().sandbox_seconds, EngineConfig.from_env().sandbox_memory_mb) == (0.25, 16)


def test_a_smaller_memory_limit_refuses_what_a_larger_one_allows() -> None:
    env = SandboxEnvironment()
    assert env.evaluate("len('a' * n)", {"n": 20 * 2**20}) == 20 * 2**20
    configure_limits(TIME_LIMIT, 16)
    with pytest.raises(SandboxViolation, match="16 MB"):
        env.evaluate("len('a' * n)", {"n": 20 * 2**20})


def test_a_list_appended_to_in_nested_loops_is_stopped_by_the_resident_memory_check() -> None:
    script = "pairs = []\nfor i in range(n):\n    for j in range(n):\n        pairs.append([i, j, str(j)])"
    configure_limits(30, 64)  # time is not what stops it
    violation, _, peak = stopped(lambda: SandboxEnvironment().execute(script, {"n": 3000}))
    assert "grew the process by" in violation.detail
    assert peak < GENEROUS_PEAK_BYTES + 64 * 2**20  # tracemalloc's own bookkeeping adds to the peak
