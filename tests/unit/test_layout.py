"""The rooms' dependency rules, read from the source with ``ast`` (nothing is imported or run).

Packages: ``engine`` imports none of the others; ``tasks``, ``mail`` and ``webhooks`` import ``engine``
only (never each other, never Flask); ``web`` imports ``engine`` only; ``ticketflow`` wires everything.
Inside ``engine`` the rooms stack: a room imports only itself and the rooms below it.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("engine", "tasks", "mail", "webhooks", "web", "ticketflow")
HTTP = ("flask", "werkzeug", "jinja2")
# What each package may import among the project's packages, and which outside ones it must not.
ALLOWED = {
    "engine": ({"engine"}, HTTP),
    "tasks": ({"engine", "tasks"}, HTTP),
    "mail": ({"engine", "mail"}, ("flask", "werkzeug")),  # Jinja2 renders the email templates, no HTTP
    "webhooks": ({"engine", "webhooks"}, HTTP),
    "web": ({"engine", "web"}, ()),
    "ticketflow": (set(PROJECT), ()),
}
# engine's rooms, bottom up: the shared vocabulary, then each room may lean on the ones before it.
ENGINE_ROOMS = ["vocabulary", "process", "store", "execution", "audit", "usecases", "runtime"]
VOCABULARY = {"errors", "config", "access", "views", "limits", "context", "__init__"}


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imports(path: Path, *, runtime_only: bool = False) -> Iterator[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``; relative imports are resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    yield from imports_in(path.read_text(), package, runtime_only=runtime_only)


def imports_in(source: str, package: tuple[str, ...], *, runtime_only: bool = False) -> Iterator[tuple[int, str]]:
    tree = ast.parse(source)
    skipped = {id(node) for block in ast.walk(tree) if runtime_only and _is_type_checking(block)
               for node in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}" if not node.module else module


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in VOCABULARY:
        return "vocabulary"
    return parts[1]


@pytest.mark.parametrize("package", PROJECT)
def test_each_package_imports_only_what_its_room_allows(package: str) -> None:
    allowed, forbidden = ALLOWED[package]
    wrong = []
    for path in modules(package):
        for line, module in imports(path):
            top = module.split(".")[0]
            if (top in PROJECT and top not in allowed) or top in forbidden:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert wrong == []


def test_engine_rooms_lean_only_on_the_rooms_below_them() -> None:
    wrong = []
    for path in modules("engine"):
        here = room_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        assert here in ENGINE_ROOMS, f"{path} is in no known room: add it to ENGINE_ROOMS in its place"
        for line, module in imports(path, runtime_only=True):
            if module.split(".")[0] != "engine":
                continue
            there = room_of(module)
            if ENGINE_ROOMS.index(there) > ENGINE_ROOMS.index(here):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {module} ({there})")
    assert wrong == []


def test_the_checker_resolves_relative_and_type_only_imports() -> None:
    """The checker itself: relative imports resolve to their package; type-only ones can be set aside."""
    source = ("from flask import Flask\nfrom ..usecases import base\nfrom typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from engine.runtime import Runtime\n")
    found = [module for _, module in imports_in(source, ("engine", "store"))]
    assert found == ["flask", "engine.usecases", "typing", "engine.runtime"]
    assert [module for _, module in imports_in(source, ("engine", "store"), runtime_only=True)] == [
        "flask", "engine.usecases", "typing"]
    assert ENGINE_ROOMS.index(room_of("engine.usecases")) > ENGINE_ROOMS.index(room_of("engine.store.tickets"))
