"""Diagram expressions and scripts run under RestrictedPython; service tasks dispatch to handlers.

SpiffWorkflow evaluates conditions, timer expressions and service parameters with plain
``eval``/``exec`` and full builtins. A builtins whitelist is no boundary (``().__class__`` walks
to ``object.__subclasses__``); RestrictedPython's compile step is: it refuses names and attributes
starting with ``_`` and routes attribute, item and iteration access through guards.
"""
from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.errors import SandboxViolation, ServiceFailed, TicketflowError

# What a process owner's expression may call: pure, side-effect-free helpers only.
_EXTRA_BUILTINS = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)  # type: ignore[index]
    for name in ("all", "any", "dict", "enumerate", "list", "max", "min", "sum", "sorted", "reversed")
}
_BUILTINS = {**safe_builtins, **_EXTRA_BUILTINS}

_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": iter,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
}


def _refuse_imports(source: str, mode: str) -> None:
    # RestrictedPython compiles `import` and only fails at run time (no __import__ builtin);
    # refuse it here so the lint reports it before a deploy.
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return  # RestrictedPython reports syntax errors with its own message
    if any(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.walk(tree)):
        raise SandboxViolation("imports are not allowed in diagram expressions or scripts")


@lru_cache(maxsize=1024)
def compile_expression(expression: str) -> CodeType:
    """Compile a diagram expression under RestrictedPython, or raise SandboxViolation."""
    _refuse_imports(expression, "eval")
    result = compile_restricted_eval(expression)
    if result.errors or result.code is None:
        raise SandboxViolation(f"expression {expression!r} refused: {'; '.join(result.errors)}")
    return result.code


@lru_cache(maxsize=256)
def compile_script(script: str) -> CodeType:
    """Compile a diagram script under RestrictedPython, or raise SandboxViolation."""
    _refuse_imports(script, "exec")
    result = compile_restricted_exec(script)
    if result.errors or result.code is None:
        raise SandboxViolation(f"script refused: {'; '.join(result.errors)}")
    return result.code


def expression_problem(expression: str, *, script: bool = False) -> str | None:
    """Return why an expression (or script) would be refused, or None when it compiles."""
    try:
        (compile_script if script else compile_expression)(expression)
    except SandboxViolation as exc:
        return exc.detail
    return None


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that evaluates through RestrictedPython."""

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = compile_expression(expression)
        scope = {**_GUARDS, **(external_context or {}), **context}
        return eval(code, scope)  # noqa: S307 - restricted bytecode, guarded globals

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = compile_script(script)
        scope = {**_GUARDS, **(external_context or {}), **context}
        exec(code, scope)  # noqa: S102 - restricted bytecode, guarded globals
        hidden = set(_GUARDS) | set(external_context or {})
        for key in list(context):
            if key not in scope:
                del context[key]
        for key, value in scope.items():
            if key not in hidden and not callable(value):
                context[key] = value
        return True


ServiceDispatch = Callable[[str, str, Mapping[str, Any]], Any]
"""(operator id, element id, evaluated parameters) -> JSON-serialisable result."""


class TicketScriptEngine(PythonScriptEngine):
    """Script engine with the sandbox and a ``call_service`` that surfaces the handler's error.

    The stock ``call_service`` refers to an undefined ``script`` in its except clause, so every
    handler failure turns into ``NameError: name 'script' is not defined``.
    """

    def __init__(self, dispatch: ServiceDispatch) -> None:
        super().__init__(environment=SandboxEnvironment())
        self._dispatch = dispatch

    def call_service(self, task, operation_name: str, operation_params: dict, **_: Any) -> str:  # type: ignore[override]
        params = {name: spec["value"] for name, spec in operation_params.items()}
        element = task.task_spec.bpmn_id or task.task_spec.name
        try:
            result = self._dispatch(operation_name, element, params)
        except TicketflowError:
            raise  # already a domain error (a refused expression, a version conflict)
        except Exception as exc:  # a handler's own failure, reported with its real cause
            raise ServiceFailed(operation_name, element, exc) from exc
        # SpiffWorkflow json.loads the result into the task's result variable.
        return json.dumps(result)
