"""Closed form schemas: reading form files, keeping their references inside the bundle, linear-time patterns."""
from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urldefrag

import re2
import referencing
import referencing.exceptions
from referencing._core import Resolved  # the type of a lookup; the package does not re-export it
from referencing.jsonschema import DRAFT202012

from engine.process import quality

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_DEPTH = 64  # far deeper than any form needs; bounds every recursive walk over the schema
MAX_REFERENCES = 256
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_QUOTE_LIMIT = 80
RE2_OPTIONS = re2.Options()
RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the author, not logged on stderr


class FormFileError(ValueError):
    """A form file that cannot be read as a UTF-8 JSON object; the message names the file."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"form file '{filename}' {reason}")
        self.reason = reason


def read_form_file(filename: str, content: bytes) -> dict[str, Any]:
    """Parse a form file strictly: UTF-8 JSON, an object at the top, nested at most MAX_DEPTH deep."""
    too_deep = f"is nested too deeply (at most {MAX_DEPTH} levels)"
    try:
        value = json.loads(content.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise FormFileError(filename, "is not UTF-8 text: save it as UTF-8 JSON") from None
    except RecursionError:
        raise FormFileError(filename, too_deep) from None
    except ValueError as exc:
        raise FormFileError(filename, f"is not valid JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(value, dict):
        raise FormFileError(filename, "must hold a JSON object at the top")
    if _depth(value) > MAX_DEPTH:
        raise FormFileError(filename, too_deep)
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    # Iterative, so a hostile file cannot exhaust the interpreter's stack while being measured.
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def walk(schema: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object in the schema with its JSON pointer, data positions included (a ``$ref`` can point there)."""
    stack = [(pointer, schema)]
    while stack:
        here, node = stack.pop()
        if isinstance(node, dict):
            yield here, node
            # Reversed onto the stack, so the objects come out in document order.
            stack.extend(reversed([(f"{here}/{_escape(str(k))}", v) for k, v in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{here}/{i}", v) for i, v in enumerate(node)]))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _quote(value: str) -> str:
    return repr(value if len(value) <= _QUOTE_LIMIT else value[:_QUOTE_LIMIT] + "...")


def _refuse_retrieval(uri: str) -> referencing.Resource[Any]:
    # Forms are closed: nothing outside the definition's own forms is ever fetched, from the network or disk.
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


def validation_copy(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as the validator sees it: without ``$schema``, which would make jsonschema switch to its
    stock validator class (and its backtracking ``re``); forms are always Draft 2020-12."""
    return {key: value for key, value in schema.items() if key != "$schema"}


def form_registry(schemas: Mapping[str, Mapping[str, Any]]) -> referencing.Registry[Any]:
    """A registry holding exactly the bundle's form schemas, by file name, that retrieves nothing else."""
    registry: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
    resources = [(name, DRAFT202012.create_resource(validation_copy(schema))) for name, schema in schemas.items()]
    return registry.with_resources(resources).crawl()


def closed_schema_problems(filename: str, schema: dict[str, Any], bundle: Mapping[str, dict[str, Any]]) -> list[str]:
    """References that leave the bundle or point to nothing, base-URI changes, and patterns RE2 cannot run."""
    registry = form_registry({**bundle, filename: schema})
    references = sum(1 for _, node in walk(schema) for key in REFERENCE_KEYWORDS if isinstance(node.get(key), str))
    if references > MAX_REFERENCES:  # each one is followed to rule out loops: keep that work small
        return [f"form '{filename}' has {references} references; a form may have at most {MAX_REFERENCES}"]
    problems = []
    # Walk the registry's copy, so that a reference found again through a lookup is the very same object.
    for pointer, node in walk(registry.contents(filename)):
        problems += _identity_problems(filename, pointer, node)
        for keyword in REFERENCE_KEYWORDS:
            if isinstance(node.get(keyword), str):
                problems += _reference_problems(filename, f"{pointer}/{keyword}", node, keyword, bundle, registry)
        if isinstance(node.get("pattern"), str):
            problems += _pattern_problems(filename, f"{pointer}/pattern", node["pattern"])
        if quality.KEYWORD in node:
            problems += quality.rule_problems(filename, f"{pointer}/{quality.KEYWORD}", node[quality.KEYWORD])
        if isinstance(node.get("patternProperties"), dict):
            problems.append(f"form '{filename}' uses patternProperties at {pointer or '/'}: a form names each of "
                            "its fields under properties")
    return problems


def _identity_problems(filename: str, pointer: str, node: dict[str, Any]) -> list[str]:
    problems = []
    if "$schema" in node and (pointer or node["$schema"] != DRAFT_2020_12):
        problems.append(f"form '{filename}' sets $schema at {pointer}/$schema: only the top of a form may, and only "
                        f"to {DRAFT_2020_12}")
    if "$id" in node and (pointer or node["$id"] != filename):
        problems.append(f"form '{filename}' sets $id to {_quote(str(node['$id']))} at {pointer}/$id: a form may only "
                        "name itself (its own file name) at the top, never another address")
    return problems


def _reference_problems(filename: str, pointer: str, origin: dict[str, Any], keyword: str,
                        bundle: Mapping[str, Any], registry: referencing.Registry[Any]) -> list[str]:
    ref = origin[keyword]
    target = urldefrag(ref).url
    if target and target != filename and target not in bundle:
        return [f"form '{filename}' refers outside its diagram at {pointer} ({_quote(ref)}): a form may refer only "
                "within itself ('#/...') or to another form deployed with the diagram, by its file name"]
    try:
        resolved = registry.resolver(base_uri=filename).lookup(ref)
        recursive = _leads_back(origin, resolved)
    except (referencing.exceptions.Unresolvable, ValueError, LookupError):
        return [f"form '{filename}' has a reference at {pointer} ({_quote(ref)}) that points to nothing"]
    if recursive:
        return [f"form '{filename}' has a reference at {pointer} ({_quote(ref)}) that leads back to itself: "
                "forms cannot be recursive"]
    return []


def _leads_back(origin: dict[str, Any], resolved: Resolved[Any]) -> bool:
    # A loop of references would recurse without end at validation; forms have no use for recursion.
    seen: set[int] = set()
    pending = [resolved]
    while pending:
        current = pending.pop()
        for _, node in walk(current.contents):
            if node is origin:
                return True
            if id(node) in seen:
                continue
            seen.add(id(node))
            pending += [current.resolver.lookup(node[key]) for key in REFERENCE_KEYWORDS
                        if isinstance(node.get(key), str)]
    return False


def _pattern_problems(filename: str, pointer: str, pattern: str) -> list[str]:
    try:
        compiled_pattern(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return [f"form '{filename}' has a pattern at {pointer} that forms cannot use ({reason}): backreferences "
                "and look-arounds are not supported; rewrite it without them"]
    return []


@functools.lru_cache(maxsize=512)
def compiled_pattern(pattern: str) -> Any:
    """The pattern compiled by RE2, whose matching time is linear in the input (no catastrophic backtracking)."""
    return re2.compile(pattern, options=RE2_OPTIONS)
