"""Time and memory bounds for diagram code: a per-evaluation meter and the guarded operations it charges.

A thread cannot interrupt C code that holds the GIL (``10**10**10`` runs to the end), and a process per
evaluation costs far more than a whole engine step. So the compile step (``engine.process.policy``)
routes every operation that can build something large in one C call through a function here, which
checks the size of the result *before* computing it, and inserts a tick into every loop, comprehension
and function body that checks a per-evaluation deadline.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic, sleep
from typing import Any

from engine.config import DEFAULT_SANDBOX_MEMORY_MB, DEFAULT_SANDBOX_SECONDS, sandbox_limits_from_env
from engine.errors import SandboxViolation

# Big-integer multiplication grows faster than linearly and holds the GIL: a 2**20-bit product takes
# about 80 ms here, a 2**22-bit one 0.6 s. No diagram needs a number anywhere near this size.
INT_BITS_CAP = 2**20
YIELD_EVERY = 0.0005  # seconds of busy evaluation between two offers of the GIL to other threads
TICKS_PER_CLOCK_CHECK = 8  # a clock read costs about as much as a tick; iterations are cheap


@dataclass(frozen=True)
class SandboxLimits:
    """How long one evaluation may run and how much it may build."""

    seconds: float = DEFAULT_SANDBOX_SECONDS
    memory_mb: int = DEFAULT_SANDBOX_MEMORY_MB

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024

    @property
    def int_bits(self) -> int:
        return min(self.memory_bytes * 8, INT_BITS_CAP)

    @property
    def range_items(self) -> int:
        # A list made from the range holds a pointer and an int object per item (about 36 bytes).
        return self.memory_bytes // 36

    @classmethod
    def from_env(cls) -> SandboxLimits:
        """Limits from TICKETFLOW_SANDBOX_SECONDS and TICKETFLOW_SANDBOX_MEMORY_MB, with the defaults."""
        seconds, memory_mb = sandbox_limits_from_env()
        return cls(seconds=seconds, memory_mb=memory_mb)


class SandboxSettings:
    """The limits every evaluation of this process uses; the composition root (or a test) sets them."""

    def __init__(self) -> None:
        self.limits = SandboxLimits.from_env()

    def configure(self, limits: SandboxLimits) -> SandboxLimits:
        """Use ``limits`` from now on; return the previous ones (so a test can put them back)."""
        previous, self.limits = self.limits, limits
        return previous



SETTINGS = SandboxSettings()


def configure_limits(seconds: float, memory_mb: int) -> SandboxLimits:
    """Set the limits every evaluation of this process uses; return the previous ones."""
    return SETTINGS.configure(SandboxLimits(seconds=seconds, memory_mb=memory_mb))


class Meter:
    """One evaluation's budget: a deadline on the monotonic clock and the bytes it may still build.

    Started by the evaluation's first guarded operation or tick: what runs before it is bounded
    work, and ordinary expressions (``priority <= 2``) never pay for a meter at all.
    """

    __slots__ = ("limits", "deadline", "bytes_left", "ticks", "rss_base", "yielded_at")

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self.deadline = monotonic() + limits.seconds
        self.bytes_left = limits.memory_bytes
        self.ticks = 0
        self.rss_base: int | None = None
        self.yielded_at = monotonic()

    def check_time(self) -> None:
        now = monotonic()
        if now - self.yielded_at > YIELD_EVERY:
            # Let the other threads in: a busy evaluation would otherwise keep the GIL for the interpreter's
            # 5 ms switch interval each time a server thread needs it for a moment (the convoy effect), and a
            # /healthz answer, which needs it dozens of times, would wait as long as the evaluation runs.
            sleep(0)
            self.yielded_at = now
        if now > self.deadline:
            raise SandboxViolation(f"diagram code took longer than {self.limits.seconds:g} s and was stopped "
                                   "by the sandbox (TICKETFLOW_SANDBOX_SECONDS)")

    def charge(self, nbytes: int, what: Callable[[], str]) -> None:
        """Account for ``nbytes`` about to be built; refuse when the evaluation's budget would be exceeded."""
        self.ticks += 1
        if nbytes > BIG_BYTES or not self.ticks % TICKS_PER_CLOCK_CHECK:
            self.check_time()
        if nbytes > self.bytes_left:
            self.refuse_memory(f"would build {what()} of about {_mb(nbytes)}")
        self.bytes_left -= nbytes

    def refuse_memory(self, what: str) -> None:
        raise SandboxViolation(f"diagram code {what}, over the {self.limits.memory_mb} MB the sandbox allows "
                               "one evaluation (TICKETFLOW_SANDBOX_MEMORY_MB)")

    def check_bits(self, bits: float) -> None:
        if bits > self.limits.int_bits:
            raise SandboxViolation(f"diagram code would build a number of about {int(bits):,} bits; "
                                   f"the sandbox allows {self.limits.int_bits:,}")
        self.charge(int(bits) // 8, lambda: "a number")

    def check_resident(self) -> None:
        """Safety net for what no guard sizes (a list appended to in a loop): the process's resident growth."""
        resident = resident_bytes()
        if resident is None:
            return
        if self.rss_base is None:
            self.rss_base = resident
        elif resident - self.rss_base > self.limits.memory_bytes:
            self.refuse_memory(f"grew the process by {_mb(resident - self.rss_base)}")


BIG_BYTES = 1 << 16  # building this much takes long enough to be worth a clock read
TICKS_PER_RESIDENT_CHECK = 1024  # reading /proc/self/statm costs about a microsecond


def _mb(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MB" if nbytes >= 2**20 else f"{nbytes:,} bytes"


def _statm() -> int | None:
    try:
        return os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return None  # not Linux: the guards' own accounting is the only memory bound


_STATM = _statm()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The process's resident set size, or None where it cannot be read cheaply."""
    if _STATM is None:
        return None
    return int(os.pread(_STATM, 64, 0).split()[1]) * _PAGE


class _Current(threading.local):
    meter: Meter | None = None


_current = _Current()


def start_meter() -> Meter | None:
    """Begin an evaluation on this thread (its meter starts with its first guard); return the replaced one."""
    previous = _current.meter
    _current.meter = None
    return previous


def restore_meter(previous: Meter | None) -> None:
    """Put back the meter ``start_meter`` replaced."""
    _current.meter = previous


def meter() -> Meter:
    """This thread's meter for the running evaluation, started on first use."""
    current = _current.meter
    if current is None:
        current = _current.meter = Meter(SETTINGS.limits)
    return current


def tick() -> bool:
    """Count one loop iteration or call; every few, check the deadline. Always true (used as a filter)."""
    current = _current.meter or meter()
    current.ticks += 1
    if not current.ticks % TICKS_PER_CLOCK_CHECK:
        current.check_time()
        if not current.ticks % TICKS_PER_RESIDENT_CHECK:
            current.check_resident()
    return True


# -- sizes, estimated before anything is built ----------------------------------------------------

SEQUENCES = (str, bytes, bytearray, list, tuple)


def item_bytes(value: Any) -> int:
    """Bytes one item of a sequence takes (a str that is not ASCII is counted at its widest)."""
    if isinstance(value, str):
        return 1 if value.isascii() else 4
    return 1 if isinstance(value, bytes | bytearray) else 8


def charge_sequence(sample: Any, length: int) -> None:
    """Charge a sequence like ``sample`` of ``length`` items to the current evaluation."""
    def what() -> str:
        unit = "characters" if isinstance(sample, str) else "bytes" if isinstance(sample, bytes | bytearray) \
            else "items"
        return f"a {type(sample).__name__} of {length:,} {unit}"

    meter().charge(max(length, 0) * item_bytes(sample), what)


def pow_bits(base: int, exponent: int) -> float:
    """Bits of ``base ** exponent`` for a non-negative integer exponent."""
    magnitude = abs(base)
    return 1.0 if magnitude <= 1 else exponent * math.log2(magnitude)


def is_int(value: Any) -> bool:
    return isinstance(value, int)
