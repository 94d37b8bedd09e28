"""Bounded versions of the operations and builtins that build something large in a single C call.

The compile step rewrites ``a ** b``, ``a * b``, ``a << b``, ``a + b`` and ``a % b`` into calls of the
functions here; ``_getattr_`` hands out bounded str/bytes/list methods. Each one estimates the size
of its result first and charges it to the evaluation's meter, which refuses what is over the limit.
"""
from __future__ import annotations

import builtins
import operator
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from RestrictedPython.Guards import safer_getattr

from engine.errors import SandboxViolation
from engine.process.guards import SEQUENCES, charge_sequence, is_int, meter, pow_bits

# -- operators ------------------------------------------------------------------------------------


def _size_pow(base: Any, exponent: Any) -> None:
    if is_int(base) and is_int(exponent) and exponent > 0:
        meter().check_bits(pow_bits(base, exponent))


def guarded_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    """``base ** exponent`` (and ``pow``): refuse an integer power whose result would be over the limit."""
    if modulo is None:
        _size_pow(base, exponent)
    return builtins.pow(base, exponent, modulo)


def _size_mul(left: Any, right: Any) -> None:
    if is_int(left) and is_int(right):
        if left and right:
            meter().check_bits(abs(left).bit_length() + abs(right).bit_length())
    elif isinstance(left, SEQUENCES) and is_int(right):
        charge_sequence(left, len(left) * right)
    elif isinstance(right, SEQUENCES) and is_int(left):
        charge_sequence(right, len(right) * left)


def guarded_mul(left: Any, right: Any) -> Any:
    """``left * right``: integer products and sequence repetitions are sized first."""
    _size_mul(left, right)
    return left * right


def _size_lshift(left: Any, right: Any) -> None:
    if is_int(left) and is_int(right) and left and right > 0:
        meter().check_bits(abs(left).bit_length() + right)


def guarded_lshift(left: Any, right: Any) -> Any:
    """``left << right``: the shifted integer is sized first."""
    _size_lshift(left, right)
    return left << right


def _size_add(left: Any, right: Any) -> None:
    if isinstance(left, SEQUENCES) and isinstance(right, SEQUENCES):
        charge_sequence(left if isinstance(left, str) and not left.isascii() else right, len(left) + len(right))


SMALL = 4096  # a concatenation this short needs no accounting (a loop of them meets the resident check)


def guarded_add(left: Any, right: Any) -> Any:
    """``left + right``: concatenation is charged (doubling a string in a loop grows fast)."""
    if type(left) is str and type(right) is str and len(left) + len(right) <= SMALL:
        return left + right  # the common case in conditions and parameters, kept cheap
    _size_add(left, right)
    return left + right


# %-format specs: flags, then a width and a precision, each digits or '*'.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _size_mod(left: Any, right: Any) -> None:
    if isinstance(left, str | bytes):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        widths = 0
        for spec in _PERCENT_SPEC.finditer(text):
            if "*" in (spec.group(1) or "", spec.group(2) or ""):
                raise SandboxViolation("a '*' width or precision in a %-format is not allowed in diagram code")
            widths += int(spec.group(1) or 0) + int(spec.group(2) or 0)
        charge_sequence(left, len(left) + widths)


def guarded_mod(left: Any, right: Any) -> Any:
    """``left % right``: a %-format's widths and precisions count towards what it builds."""
    _size_mod(left, right)
    return left % right


def guarded_format(value: Any, spec: str = "") -> str:
    """An f-string field ``{value:spec}``: its width and precision count towards what it builds."""
    widths = sum(int(number) for number in re.findall(r"\d+", spec)) if spec else 0
    if widths:
        charge_sequence(spec, widths)
    return builtins.format(value, spec)


def _no_size(left: Any, right: Any) -> None:
    """Operators whose result is no larger than their operands."""


_INPLACE: dict[str, tuple[Callable[[Any, Any], None], Callable[[Any, Any], Any]]] = {
    "+=": (_size_add, operator.iadd), "*=": (_size_mul, operator.imul), "**=": (_size_pow, operator.ipow),
    "<<=": (_size_lshift, operator.ilshift), "%=": (_size_mod, operator.imod),
    "-=": (_no_size, operator.isub), "/=": (_no_size, operator.itruediv), "//=": (_no_size, operator.ifloordiv),
    ">>=": (_no_size, operator.irshift), "&=": (_no_size, operator.iand), "|=": (_no_size, operator.ior),
    "^=": (_no_size, operator.ixor),
}


def guarded_inplace(op: str, target: Any, value: Any) -> Any:
    """``target op= value`` (RestrictedPython's ``_inplacevar_``), through the same guards."""
    if op not in _INPLACE:
        raise SandboxViolation(f"the operator {op} is not allowed in diagram code")
    size, apply = _INPLACE[op]
    size(target, value)
    return apply(target, value)


# -- builtins -------------------------------------------------------------------------------------


def bounded_range(*args: int) -> range:
    """``range`` over no more items than a list of them could hold within the memory limit."""
    span = range(*args)
    limit = meter().limits.range_items
    if len(span) > limit:
        raise SandboxViolation(f"range() over {len(span):,} items is over the sandbox limit of {limit:,} items")
    meter().charge(len(span) * 8, lambda: "a range")
    return span


def bounded_sum(items: Iterable[Any], start: Any = 0) -> Any:
    """``sum``; summing sequences (``sum(lists, [])``) is sized first."""
    if isinstance(start, SEQUENCES):
        items = list(items)
        charge_sequence(start, len(start) + builtins.sum(len(i) for i in items if isinstance(i, SEQUENCES)))
    return builtins.sum(items, start)


def bounded_round(number: Any, ndigits: Any = None) -> Any:
    """``round``; rounding an integer to negative digits computes ``10 ** -ndigits``."""
    if is_int(ndigits) and ndigits < 0:
        meter().check_bits(pow_bits(10, -ndigits))
    return builtins.round(number, ndigits)


BOUNDED_BUILTINS: dict[str, Any] = {"pow": guarded_pow, "range": bounded_range, "sum": bounded_sum,
                                    "round": bounded_round}

# -- methods --------------------------------------------------------------------------------------


def _pad(method: str, text: Any, width: int, *rest: Any) -> Any:
    charge_sequence(text, width)
    return getattr(text, method)(width, *rest)


def _expandtabs(text: Any, tabsize: int = 8) -> Any:
    charge_sequence(text, len(text) + text.count("\t" if isinstance(text, str) else b"\t") * max(tabsize, 0))
    return text.expandtabs(tabsize)


def _join(separator: Any, items: Iterable[Any]) -> Any:
    parts = list(items)
    total = builtins.sum(len(p) for p in parts if isinstance(p, SEQUENCES))
    charge_sequence(separator, total + len(separator) * max(len(parts) - 1, 0))
    return separator.join(parts)


def _replace(text: Any, old: Any, new: Any, count: int = -1) -> Any:
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    charge_sequence(new if isinstance(new, str) and not new.isascii() else text,
                    len(text) + found * max(len(new) - len(old), 0))
    return text.replace(old, new, count)


def _translate(text: Any, table: Any) -> Any:
    values = table.values() if isinstance(table, dict) else table if isinstance(table, list | tuple) else ()
    widest = builtins.max((len(v) for v in values if isinstance(v, str)), default=1)
    charge_sequence(text, len(text) * builtins.max(widest, 1))
    return text.translate(table)


def _extend(target: list[Any], items: Iterable[Any]) -> None:
    items = list(items)
    charge_sequence(target, len(target) + len(items))
    target.extend(items)


_TEXT_METHODS: dict[str, Callable[..., Any]] = {
    **{name: partial(_pad, name) for name in ("ljust", "rjust", "center", "zfill")},
    "expandtabs": _expandtabs, "join": _join, "replace": _replace, "translate": _translate,
}


def guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr``, handing out bounded versions of the amplifying methods."""
    value = safer_getattr(obj, name, default)
    if isinstance(obj, str | bytes | bytearray) and name in _TEXT_METHODS:
        return partial(_TEXT_METHODS[name], obj)
    if isinstance(obj, list) and name == "extend":
        return partial(_extend, obj)
    return value
