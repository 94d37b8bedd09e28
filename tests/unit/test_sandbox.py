"""The RestrictedPython sandbox for diagram expressions and scripts, and service-task error reporting."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.errors import SandboxViolation, ServiceFailed
from engine.process.sandbox import SandboxEnvironment, TicketScriptEngine, compile_expression, expression_problem

REFUSED = (SandboxViolation, NameError)


class Toolbox:
    """An object a context might carry; its private method has a visible side effect."""

    def __init__(self, canary: Path) -> None:
        self.label = "public"
        self._canary = canary

    def _touch(self) -> None:
        self._canary.touch()


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment()


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "escaped"


def escape_payloads(canary: Path) -> dict[str, str]:
    """Expressions that each create ``canary`` when run as plain Python."""
    target = repr(str(canary))
    create = f"open({target}, 'w').close()"
    return {
        "__import__": f"__import__('os').system('touch ' + {target})",
        "__subclasses__": ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]"
                           f"(['touch', {target}]).wait()"),
        "getattr": ("[c for c in getattr(getattr(getattr((), '__class__'), '__base__'), '__subclasses__')()"
                    f" if getattr(c, '__name__') == 'Popen'][0](['touch', {target}]).wait()"),
        "open": create,
        "exec": f"exec({create!r})",
        "eval": f"eval({create!r})",
        "_private": "box._touch()",
    }


PAYLOAD_NAMES = ["__import__", "__subclasses__", "getattr", "open", "exec", "eval", "_private"]


# -- ordinary expressions --------------------------------------------------------------------------

@pytest.mark.parametrize(("expression", "expected"), [
    ("resolve_at_first_level == True", True),
    ("resolve_at_first_level == False", False),
    ('validation_outcome == "persists"', True),
    ("impact != urgency and priority <= 3", True),
    ("1 < priority < 3", True),
    ('validation_request["response_window"]', "PT4H"),
    ("kb_matches[0]['slug']", "reset-token-cache"),
    ('"R/" + validation_request["response_window"]', "R/PT4H"),
    ('subject + " " + description', "Login fails invalid token"),
    ("len(kb_matches)", 2),
    ("min(scores)", 0.25),
    ("max(scores)", 0.75),
    ("sum(scores) / len(scores)", 0.5),
    ("sorted(scores, reverse=True)[0]", 0.75),
    ("[m['slug'] for m in kb_matches if m['score'] > 0.5]", ["reset-token-cache"]),
    ("'persist' in validation_outcome", True),
    ("box.label", "public"),
])
def test_ordinary_expressions_evaluate(env: SandboxEnvironment, canary: Path, expression: str,
                                       expected: object) -> None:
    context = {
        "resolve_at_first_level": True, "validation_outcome": "persists", "impact": "high",
        "urgency": "medium", "priority": 2, "validation_request": {"response_window": "PT4H"},
        "kb_matches": [{"slug": "reset-token-cache", "score": 0.75}, {"slug": "sso", "score": 0.25}],
        "scores": [0.25, 0.5, 0.75], "subject": "Login fails", "description": "invalid token",
        "box": Toolbox(canary),
    }
    assert env.evaluate(expression, context) == expected


def test_external_context_is_visible_to_expressions(env: SandboxEnvironment) -> None:
    assert env.evaluate("window + suffix", {"window": "PT4H"}, {"suffix": "!"}) == "PT4H!"


def test_missing_variable_raises_name_error(env: SandboxEnvironment) -> None:
    with pytest.raises(NameError, match="validation_outcome"):
        env.evaluate('validation_outcome == "resolved"', {})


# -- escapes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", PAYLOAD_NAMES)
def test_escape_payloads_really_escape_outside_the_sandbox(canary: Path, payload: str) -> None:
    """Control: the payloads below are live; plain ``eval`` lets each one create the canary."""
    eval(escape_payloads(canary)[payload], {"box": Toolbox(canary)})  # noqa: S307 - the control case
    assert canary.exists()


@pytest.mark.parametrize("payload", PAYLOAD_NAMES)
def test_escape_payloads_are_refused_with_no_side_effect(env: SandboxEnvironment, canary: Path,
                                                         payload: str) -> None:
    with pytest.raises(REFUSED):
        env.evaluate(escape_payloads(canary)[payload], {"box": Toolbox(canary)})
    assert not canary.exists()


@pytest.mark.parametrize("payload", ["__import__", "__subclasses__", "exec", "eval", "_private"])
def test_escape_payloads_are_refused_before_they_run(canary: Path, payload: str) -> None:
    expression = escape_payloads(canary)[payload]
    with pytest.raises(SandboxViolation, match="refused"):
        compile_expression(expression)
    assert expression_problem(expression) is not None


def test_import_expression_is_refused_naming_the_underscore_rule(env: SandboxEnvironment) -> None:
    with pytest.raises(SandboxViolation, match='"__import__" is an invalid variable name'):
        env.evaluate("__import__('os').system('id')", {})


def test_subclasses_walk_is_refused_naming_every_dunder(env: SandboxEnvironment) -> None:
    with pytest.raises(SandboxViolation) as refused:
        env.evaluate("().__class__.__base__.__subclasses__()", {})
    for name in ("__class__", "__base__", "__subclasses__"):
        assert f'"{name}" is an invalid attribute name' in refused.value.detail


def test_getattr_to_a_dunder_is_refused(env: SandboxEnvironment) -> None:
    with pytest.raises(REFUSED):
        env.evaluate("getattr(x, '__class__')", {"x": 1})


def test_open_of_etc_passwd_is_refused_and_reads_nothing(env: SandboxEnvironment) -> None:
    with pytest.raises(REFUSED) as refused:
        env.evaluate("open('/etc/passwd').read()", {})
    assert "root:" not in str(refused.value)


@pytest.mark.parametrize("expression", ["exec('x = 1')", "eval('1 + 1')"])
def test_exec_and_eval_calls_are_refused(env: SandboxEnvironment, expression: str) -> None:
    with pytest.raises(SandboxViolation, match="which diagram code may not call"):
        env.evaluate(expression, {})


@pytest.mark.parametrize("expression", ["_private", "box._canary", "box._touch()"])
def test_private_names_and_attributes_are_refused(env: SandboxEnvironment, canary: Path,
                                                  expression: str) -> None:
    with pytest.raises(SandboxViolation, match='"_'):
        env.evaluate(expression, {"_private": 1, "box": Toolbox(canary)})
    assert not canary.exists()


def test_context_values_cannot_smuggle_builtins_back_in(env: SandboxEnvironment, canary: Path) -> None:
    with pytest.raises(REFUSED):
        env.evaluate("open(target, 'w')", {"target": str(canary)})
    assert not canary.exists()


# -- scripts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "with open(target, 'w') as handle:\n    handle.write('x')",
    "exec(\"open(target, 'w').close()\")",
    "box._touch()",
    "().__class__.__base__.__subclasses__()",
])
def test_escaping_scripts_are_refused_with_no_side_effect(env: SandboxEnvironment, canary: Path,
                                                         script: str) -> None:
    with pytest.raises(REFUSED):
        env.execute(script, {"target": str(canary), "box": Toolbox(canary)})
    assert not canary.exists()


@pytest.mark.parametrize("script", [
    "import os\nos.system('touch ' + target)",
    "from os import system\nsystem('touch ' + target)",
], ids=["import-os", "from-os-import-system"])
def test_import_in_a_script_has_no_side_effect(env: SandboxEnvironment, canary: Path, script: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the type is asserted by the test below
        env.execute(script, {"target": str(canary)})
    assert not canary.exists()


@pytest.mark.parametrize("script", [
    "import os\nos.system('touch ' + target)",
    "from os import system\nsystem('touch ' + target)",
], ids=["import-os", "from-os-import-system"])
def test_import_in_a_script_is_refused_with_sandbox_violation_or_name_error(
        env: SandboxEnvironment, canary: Path, script: str) -> None:
    with pytest.raises(REFUSED):
        env.execute(script, {"target": str(canary)})
    assert not canary.exists()


def test_script_writes_the_variables_it_sets_back_to_the_context(env: SandboxEnvironment) -> None:
    context = {"priority": 2, "stale": "drop me"}
    assert env.execute(
        "escalate = priority <= 2\nlabel = 'P' + str(priority)\nsteps = [1, 2]\ndel stale", context) is True
    assert context == {"priority": 2, "escalate": True, "label": "P2", "steps": [1, 2]}


def test_script_does_not_write_back_functions_guards_or_external_context(env: SandboxEnvironment) -> None:
    context: dict = {"base": 40}
    env.execute("def plus(value):\n    return value + extra\ntotal = plus(base)", context, {"extra": 2})
    assert context == {"base": 40, "total": 42}


def test_refused_script_leaves_the_context_untouched(env: SandboxEnvironment) -> None:
    context = {"priority": 2}
    with pytest.raises(SandboxViolation):
        env.execute("leaked = ().__class__", context)
    assert context == {"priority": 2}


# -- service tasks ---------------------------------------------------------------------------------

def fake_task(bpmn_id: str | None = "search_knowledge_base", name: str = "Search knowledge base"):
    return SimpleNamespace(task_spec=SimpleNamespace(bpmn_id=bpmn_id, name=name), data={})


def test_call_service_surfaces_the_handlers_own_exception() -> None:
    failure = ValueError("kb down")

    def dispatch(operator: str, element: str, params: dict) -> object:
        raise failure

    engine = TicketScriptEngine(dispatch)
    with pytest.raises(ServiceFailed) as raised:
        engine.call_service(fake_task(), operation_name="x", operation_params={})
    error = raised.value
    assert error.cause is failure
    assert error.__cause__ is failure
    assert error.operator == "x"
    assert error.element == "search_knowledge_base"
    assert "kb down" in str(error)
    assert "ValueError" in str(error)
    assert str(error) == "service 'x' in 'search_knowledge_base' failed: ValueError: kb down"
    assert "script" not in str(error)
    assert not isinstance(error, NameError)


def test_call_service_names_the_task_by_name_when_it_has_no_bpmn_id() -> None:
    def dispatch(operator: str, element: str, params: dict) -> object:
        raise RuntimeError("smtp refused")

    with pytest.raises(ServiceFailed) as raised:
        TicketScriptEngine(dispatch).call_service(fake_task(None, "notify_customer"),
                                                  operation_name="notify_resolution", operation_params={})
    assert raised.value.element == "notify_customer"
    assert "smtp refused" in raised.value.detail


def test_call_service_passes_a_sandbox_violation_through_unchanged() -> None:
    violation = SandboxViolation("expression refused")

    def dispatch(operator: str, element: str, params: dict) -> object:
        raise violation

    with pytest.raises(SandboxViolation) as raised:
        TicketScriptEngine(dispatch).call_service(fake_task(), operation_name="x", operation_params={})
    assert raised.value is violation


def test_call_service_dispatches_the_parameter_values_and_returns_json() -> None:
    calls = []

    def dispatch(operator: str, element: str, params: dict) -> object:
        calls.append((operator, element, dict(params)))
        return {"matches": [{"slug": "reset-token-cache"}]}

    result = TicketScriptEngine(dispatch).call_service(
        fake_task(), operation_name="knowledge_base_search",
        operation_params={"query": {"value": "login token", "type": "str"}})
    assert calls == [("knowledge_base_search", "search_knowledge_base", {"query": "login token"})]
    assert result == '{"matches": [{"slug": "reset-token-cache"}]}'


def test_ticket_script_engine_runs_diagram_code_in_the_sandbox(canary: Path) -> None:
    engine = TicketScriptEngine(lambda *args: None)
    assert isinstance(engine.environment, SandboxEnvironment)
    with pytest.raises(SandboxViolation):
        engine.environment.evaluate("__import__('os').system('touch ' + target)", {"target": str(canary)})
    assert not canary.exists()


@pytest.mark.parametrize("code", ["open('/etc/passwd').read()", "getattr(ticket, 'x')", "vars()", "globals()",
                                  "f = getattr", "compile('1', 'x', 'eval')", "breakpoint()"])
def test_the_lint_refuses_what_diagram_code_may_not_call_before_anything_runs(code: str) -> None:
    problem = expression_problem(code, script="=" in code)
    assert problem is not None and "which diagram code may not call" in problem


@pytest.mark.parametrize("code", ["type == 'incident'", "len(steps) > 2 and subject.lower() != ''",
                                  "f = lambda s: s.strip()\nresult = [f(s) for s in steps]",
                                  "sorted(d.items(), key=lambda kv: kv[1])[0]"])
def test_the_lint_allows_safe_functions_process_data_and_names_the_code_binds(code: str) -> None:
    assert expression_problem(code, script="\n" in code) is None
