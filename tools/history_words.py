"""Write the dictionary history event data is packed against (``engine/store/packing.py``).

    .venv/bin/python -m tools.history_words engine/store/history_words_v2.txt

Drives one ticket down each path of the bundled diagram (the benchmarks' paths: reminders, persists, escalated,
L1-direct) on a scratch SQLite database, with sample words of its own (a printer, not the benchmarks' VPN, so a
benchmark never measures its own words), and writes the distinct data of their events as JSON lines, the most
common path last (Zstandard reaches the end of a dictionary most cheaply).

Stored rows depend on a dictionary's exact bytes: this never overwrites one. A new dictionary gets the next
number, and ``packing.CURRENT`` moves to it once it is added to ``packing.DICTIONARIES``.
"""
from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.engine import L1_DIRECT, PERSISTS_LOOP, TO_PERSISTS_LOOP, Step
from bench.storage import REMINDER_ROUNDS, Driver

INTAKE: dict[str, Any] = {"subject": "Printer on floor 3 jams on double-sided jobs",
          "description": "Every double-sided job stops after the first sheet with a paper jam warning.",
          "customer": "bruno", "contact": {"email": "bruno@example.org"}}
FORMS: dict[str, dict[str, Any]] = {
    "classify_ticket": {"type": "service_request", "impact": "low", "urgency": "medium"},
    "assess_first_level": {"resolve_at_first_level": False, "assessment": "No article covers this model's fault."},
    "escalate_to_l2": {"problem_description": "Duplex jobs jam after one sheet on the floor 3 printer",
                       "troubleshooting_steps": ["Cleared the paper path", "Printed a single-sided test page"],
                       "escalation_reason": "Looks like a firmware fault; needs the vendor's tools."},
    "investigate_root_cause": {"logs_reviewed": "printer event log for the past week", "reproduced": True,
                               "root_cause": "Firmware 2.1 misreads the duplex sensor."},
    "apply_definitive_fix": {"fix_details": "Installed firmware 2.4, which reads the duplex sensor correctly.",
                             "components_changed": ["printer firmware"], "fix_kind": "definitive"},
    "apply_solution": {"actions_taken": "Updated the printer firmware, then printed twenty duplex pages as a test.",
                       "configuration_changes": "firmware 2.1 -> 2.4",
                       "observed_outcome": "All twenty pages now print without a jam.",
                       "customer_message": "We updated the printer's firmware, which caused the jams.",
                       "customer_steps": ["Print a double-sided test page"]},
    "test_and_confirm": {"validation_outcome": "resolved"},
}
PERSISTS = {"validation_outcome": "persists", "customer_comment": "It jammed again this morning."}
FOLLOW_UP = {"follow_up_channel": "chat", "follow_up_outcome": "needs_more_time",
             "follow_up_notes": "Reached the customer by chat; they will print a test page on Monday."}
CONFIRM = Step("test_and_confirm", FORMS["test_and_confirm"], "customer")
ASSESS_KNOWN = Step("assess_first_level", {"resolve_at_first_level": True,
                                           "assessment": "A known duplex fault; the firmware fixes it."}, "l1")


def ours(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The benchmark's steps with this tool's words."""
    return tuple(Step(s.element, PERSISTS if s.form.get("validation_outcome") == "persists" else FORMS[s.element],
                      s.actor) for s in steps)


def play(driver: Driver, path: str) -> None:
    from engine.usecases.tickets import TicketIntake

    view = driver.call(lambda: driver.runtime.open_ticket(TicketIntake(**INTAKE), driver.actors["customer"]))
    if path == "reminders":
        l1_direct = ours(L1_DIRECT)
        view = driver.play(view, (l1_direct[0], ASSESS_KNOWN, l1_direct[2]))
        for _ in range(REMINDER_ROUNDS):
            if any(t.element_id == "follow_up_with_customer" for t in view.ready_tasks):
                break
            if view.next_timer_at is None:
                break
            driver.clock.now = max(driver.clock.now, view.next_timer_at + timedelta(seconds=1))
            driver.call(driver.runtime.fire_due_timers)
            view = driver.runtime.get_ticket(view.number)
        view = driver.play(view, (Step("follow_up_with_customer", FOLLOW_UP, "l1"), CONFIRM))
    elif path == "persists":
        driver.play(driver.play(view, ours(TO_PERSISTS_LOOP)), (*ours(PERSISTS_LOOP), CONFIRM))
    elif path == "escalated":
        driver.play(driver.play(view, ours(TO_PERSISTS_LOOP)), (CONFIRM,))
    else:
        driver.play(view, (ours(L1_DIRECT)[0], ASSESS_KNOWN, *ours(L1_DIRECT)[2:]))


def words() -> bytes:
    from sqlalchemy import text

    from engine.access import Actor

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        driver = Driver(f"sqlite:///{scratch}/words.db")
        driver.clock.now = datetime(2025, 6, 16, 13, 37, tzinfo=UTC)  # nor the benchmarks' dates
        driver.actors.update(customer=Actor("bruno", "customer"), l1=Actor("mia", "l1"), l2=Actor("omar", "l2"))
        try:
            for path in ("reminders", "persists", "escalated", "l1_direct"):
                play(driver, path)
            driver.deliver()
            with driver.runtime.sessions.kw["bind"].connect() as connection:
                rows = connection.execute(text("SELECT ticket_id, data, packed FROM history_event "
                                               "ORDER BY ticket_id, seq")).all()
        finally:
            driver.close()
    from engine.store.packing import unpack

    for _, data, packed in rows:
        line = unpack(packed) if packed is not None else data
        if line not in lines:
            lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    target = Path(argv[0])
    if target.exists():
        print(f"{target} exists; stored rows depend on its bytes: write the next number instead", file=sys.stderr)
        return 1
    target.write_bytes(words())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
