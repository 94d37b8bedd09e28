"""Diagram expressions and scripts run under RestrictedPython; service tasks dispatch to handlers.

SpiffWorkflow evaluates conditions, timer expressions and service parameters with plain
``eval``/``exec`` and full builtins. A builtins whitelist is no boundary (``().__class__`` walks
to ``object.__subclasses__``); RestrictedPython's compile step is: it refuses names and attributes
starting with ``_`` and routes attribute, item and iteration access through guards. Our policy
(``engine.process.policy``) adds time and memory bounds: see ``engine.process.guards``.
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
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.errors import SandboxViolation, ServiceFailed, TicketflowError
from engine.process import bounded
from engine.process.callables import name_problem
from engine.process.guards import restore_meter, start_meter, tick
from engine.process.policy import BoundedTransformer, static_problem

# What a process owner's expression may call: pure, side-effect-free helpers only.
_EXTRA_BUILTINS = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)  # type: ignore[index]
    for name in ("all", "any", "dict", "enumerate", "list", "max", "min", "sum", "sorted", "reversed")
}
# No class statements in diagram code (the policy refuses them), so no class builder either; and no
# attribute writers: diagram code reads process data and builds values, it never mutates objects.
_BUILTINS = {**{k: v for k, v in safe_builtins.items() if k not in ("__build_class__", "setattr", "delattr")},
             **_EXTRA_BUILTINS, **bounded.BOUNDED_BUILTINS}
_CALLABLE = frozenset(name for name in _BUILTINS if not name.startswith("_"))

_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": bounded.guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": iter,
    "_write_": full_write_guard,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": bounded.guarded_inplace,
    "_pow_": bounded.guarded_pow,
    "_mul_": bounded.guarded_mul,
    "_lshift_": bounded.guarded_lshift,
    "_add_": bounded.guarded_add,
    "_mod_": bounded.guarded_mod,
    "_format_": bounded.guarded_format,
    "_tick_": tick,
}


def _checked_tree(source: str, mode: str, refused: str) -> ast.AST | str:
    """The parsed source once nothing in it is refused before compiling; the source itself on a syntax error."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return source  # RestrictedPython reports syntax errors with its own message
    # RestrictedPython compiles `import` and only fails at run time (no __import__ builtin);
    # refuse it here so the lint reports it before a deploy.
    if any(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.walk(tree)):
        raise SandboxViolation("imports are not allowed in diagram expressions or scripts")
    problem = name_problem(tree, _CALLABLE) or static_problem(tree)
    if problem:
        raise SandboxViolation(f"{refused}: {problem}")
    return tree


@lru_cache(maxsize=1024)
def compile_expression(expression: str) -> CodeType:
    """Compile a diagram expression under RestrictedPython and the bounds policy, or raise SandboxViolation."""
    refused = f"expression {expression!r} refused"
    tree = _checked_tree(expression, "eval", refused)
    result = compile_restricted_eval(tree, policy=BoundedTransformer)  # type: ignore[arg-type]
    if result.errors or result.code is None:
        raise SandboxViolation(f"{refused}: {'; '.join(result.errors)}")
    return result.code


@lru_cache(maxsize=256)
def compile_script(script: str) -> CodeType:
    """Compile a diagram script under RestrictedPython and the bounds policy, or raise SandboxViolation."""
    tree = _checked_tree(script, "exec", "script refused")
    result = compile_restricted_exec(tree, policy=BoundedTransformer)  # type: ignore[arg-type]
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
        previous = start_meter()  # this evaluation's deadline and memory budget
        try:
            return eval(code, scope)  # noqa: S307 - restricted bytecode, guarded globals
        finally:
            restore_meter(previous)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = compile_script(script)
        scope = {**_GUARDS, **(external_context or {}), **context}
        previous = start_meter()
        try:
            exec(code, scope)  # noqa: S102 - restricted bytecode, guarded globals
        finally:
            restore_meter(previous)
        hidden = set(_GUARDS) | set(external_context or {})
        for key in list(context):
            if key not in scope:
                del context[key]
        for key, value in scope.items():
            if key not in hidden and not callable(value):
                context[key] = value
        return True


def _chain_domain_cause(exc: SpiffWorkflowException) -> None:
    """SpiffWorkflow wraps an expression's error without chaining it as the cause; chain a domain error
    (a sandbox limit) so the step reports it in plain words instead of "Error evaluating expression"."""
    if exc.__cause__ is None and isinstance(exc.__context__, TicketflowError):
        exc.__cause__ = exc.__context__


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

    def evaluate(self, task, expression: str, external_context: dict | None = None) -> Any:  # type: ignore[override]
        try:
            return super().evaluate(task, expression, external_context)
        except SpiffWorkflowException as exc:
            _chain_domain_cause(exc)
            raise

    def execute(self, task, script: str, external_context: dict | None = None) -> bool:  # type: ignore[override]
        try:
            return super().execute(task, script, external_context)
        except SpiffWorkflowException as exc:
            _chain_domain_cause(exc)
            raise

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
