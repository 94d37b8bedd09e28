"""The compile step's policy: RestrictedPython's rules plus the rewrites that bound time and memory.

``BoundedTransformer`` routes the operators that can build something large through the guards of
``engine.process.bounded`` and inserts a tick (``engine.process.guards.tick``) into every loop,
comprehension, lambda and function. ``static_problem`` folds constants so that what is over a limit
for every input (``10**10**10``, ``'a'*10**10``, ``range(10**12)``) is refused at deploy.
"""
from __future__ import annotations

import ast
from typing import Any

from RestrictedPython.transformer import RestrictingNodeTransformer

from engine.errors import SandboxViolation
from engine.process import bounded
from engine.process.guards import restore_meter, start_meter

BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Pow: "_pow_", ast.Mult: "_mul_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_",
}
TICK = "_tick_"
WHILE_REFUSED = ("while loops are not allowed in diagram code: a diagram needs no unbounded loop "
                 "(iterate over a list, or a range() of known size)")


def _call(name: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    for node in ast.walk(call):
        if not isinstance(node, ast.expr_context):
            ast.copy_location(node, where)
    return call


def _tick_statement(where: ast.AST) -> ast.Expr:
    return ast.copy_location(ast.Expr(_call(TICK, [], where)), where)


class BoundedTransformer(RestrictingNodeTransformer):
    """RestrictedPython's transformer with guarded operators, ticks, and no unbounded loops."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = BINOP_GUARDS.get(type(node.op))
        return _call(guard, [node.left, node.right], node) if guard else node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        # Apply the conversion (!r, !s, !a) and the spec in the guard, which sizes the width first.
        value = node.value if node.conversion == -1 else _call({114: "repr", 115: "str", 97: "ascii"}.get(
            node.conversion, "str"), [node.value], node)
        node.value = _call("_format_", [value, node.format_spec], node)
        node.conversion, node.format_spec = -1, None
        return node

    def visit_While(self, node: ast.While) -> Any:
        self.error(node, WHILE_REFUSED)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed in diagram code")
        return node

    def visit_Starred(self, node: ast.Starred) -> Any:
        if isinstance(node.ctx, ast.Load):  # [*a, *a] doubles a list without any operator to guard
            self.error(node, "unpacking with * is not allowed in diagram code: use + to join lists")
        return self.node_contents_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Any:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Slice):
                self.error(node, "slice assignment is not allowed in diagram code")
        return super().visit_Assign(node)

    def visit_For(self, node: ast.For) -> Any:
        loop: ast.For = super().visit_For(node)  # type: ignore[assignment]
        loop.body.insert(0, _tick_statement(loop))
        return loop

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        loop: ast.comprehension = super().visit_comprehension(node)  # type: ignore[assignment]
        loop.ifs.insert(0, _call(TICK, [], loop.iter))  # an always-true filter that counts the iteration
        return loop

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        function: ast.Lambda = super().visit_Lambda(node)  # type: ignore[assignment]
        body = function.body  # `_tick_() and body`: the tick is always true
        function.body = ast.copy_location(ast.BoolOp(op=ast.And(), values=[_call(TICK, [], body), body]), body)
        return function

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        function: ast.FunctionDef = super().visit_FunctionDef(node)  # type: ignore[assignment]
        function.body.insert(0, _tick_statement(function.body[0]))
        return function


# -- what deploy can see: constants folded ----------------------------------------------------------

_UNKNOWN = object()
_BINOPS: dict[type[ast.operator], Any] = {
    ast.Pow: bounded.guarded_pow, ast.Mult: bounded.guarded_mul, ast.LShift: bounded.guarded_lshift,
    ast.Add: bounded.guarded_add, ast.Mod: bounded.guarded_mod, ast.Sub: lambda a, b: a - b,
    ast.FloorDiv: lambda a, b: a // b, ast.RShift: lambda a, b: a >> b,
}
_UNARY: dict[type[ast.unaryop], Any] = {ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Invert: lambda a: ~a}


class _Folder:
    """Folds constant sub-expressions through the same guards the run time uses."""

    def __init__(self) -> None:
        self.known: dict[int, Any] = {}

    def fold(self, node: ast.AST) -> Any:
        if id(node) not in self.known:
            try:
                self.known[id(node)] = self._fold(node)
            except (ArithmeticError, TypeError, ValueError):
                # A constant error (1/0, 'a' - 1) shows itself at run time with its own message.
                self.known[id(node)] = _UNKNOWN
        return self.known[id(node)]

    def _fold(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            items = [self.fold(item) for item in node.elts]
            return _UNKNOWN if _UNKNOWN in items else (list(items) if isinstance(node, ast.List) else tuple(items))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            operand = self.fold(node.operand)
            return _UNKNOWN if operand is _UNKNOWN else _UNARY[type(node.op)](operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self.fold(node.left), self.fold(node.right)
            return _UNKNOWN if _UNKNOWN in (left, right) else _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("range", "pow"):
            args = [self.fold(arg) for arg in node.args]
            if _UNKNOWN not in args and not node.keywords:
                return bounded.BOUNDED_BUILTINS[node.func.id](*args)
        return _UNKNOWN


def static_problem(tree: ast.AST) -> str | None:
    """Why the diagram code would be over a limit whatever its data, or None when nothing constant is."""
    folder = _Folder()
    previous = start_meter()
    try:
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp | ast.Call):
                folder.fold(node)
    except SandboxViolation as exc:
        return exc.detail
    finally:
        restore_meter(previous)
    return None
