"""What diagram code may call or name: an allow-list checked before anything is compiled.

RestrictedPython already keeps ``open``, ``eval`` and ``__import__`` out of the builtins, so such a call
fails only when a ticket reaches it. Reading the names at deploy turns that into a lint problem
on the element instead: a call must be to an allowed builtin or to a name the code itself binds
(a lambda, a loop variable); process data is JSON and never callable.
"""
from __future__ import annotations

import ast
from collections.abc import Collection

# Names no process variable is ever called and that open a way out: refused even when not called
# (``f = getattr``). Other builtins may be data names (``type`` is one of ours), so only calls to them count.
_NEVER_NAMED = frozenset(("eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals",
                          "vars", "dir", "input", "breakpoint", "help", "exit", "quit", "memoryview", "object",
                          "super"))

def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself: assignments, loop and comprehension targets, parameters, functions."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            bound.add(node.name)
    return bound


def name_problem(tree: ast.AST, allowed: Collection[str]) -> str | None:
    """Why ``tree`` names or calls something diagram code may not use, or None."""
    bound = _bound_names(tree)
    refused: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            # RestrictedPython refuses every "_" name itself, with its own message.
            if name not in allowed and name not in bound and not name.startswith("_"):
                refused.append(name)
        elif isinstance(node, ast.Name) and node.id in _NEVER_NAMED:
            refused.append(node.id)
    if not refused:
        return None
    names = ", ".join(sorted(set(refused)))
    return (f"it uses {names}, which diagram code may not call; it may call the safe functions "
            f"({', '.join(sorted(n for n in allowed if n[:1].islower()))}) and methods of process data")
