"""Export of a period's events as JSON Lines or CSV: order, bounds, bad arguments, bounded memory."""
from __future__ import annotations

import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import InvalidInput
from engine.execution.clock import FakeClock
from engine.runtime import Runtime
from engine.usecases.audit import EXPORT_FIELDS, AuditService
from tests.conftest import CLASSIFY, CUSTOMER, L1, START, complete_current, intake
from tests.integration.helpers import ticket_row


def two_tickets_over_three_hours(runtime: Runtime, clock: FakeClock) -> tuple[str, str]:
    first = runtime.open_ticket(intake(), CUSTOMER).number
    clock.advance(hours=1)
    second = runtime.open_ticket(intake(customer="bob", channel="phone"), L1).number
    clock.advance(hours=1)
    complete_current(runtime, first, L1, CLASSIFY)
    return first, second


def test_jsonl_export_is_ordered_by_time_ticket_and_seq(runtime: Runtime, clock: FakeClock) -> None:
    first, second = two_tickets_over_three_hours(runtime, clock)
    lines = list(AuditService(runtime).export(START, START + timedelta(hours=3), "jsonl", batch=4))
    records = [json.loads(line) for line in lines]
    assert all(line.endswith("\n") for line in lines)
    keys = [(r["at"], r["ticket"], r["seq"]) for r in records]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert {r["ticket"] for r in records} == {first, second}
    total = ticket_row(runtime, first).history_seq + ticket_row(runtime, second).history_seq
    assert len(records) == total and set(records[0]) == set(EXPORT_FIELDS)
    assert records[0]["kind"] == "ticket_opened" and records[0]["data"]["customer"] == "alice"


def test_the_period_includes_its_start_and_excludes_its_end(runtime: Runtime, clock: FakeClock) -> None:
    first, second = two_tickets_over_three_hours(runtime, clock)
    audit = AuditService(runtime)
    middle = [json.loads(x) for x in audit.export(START + timedelta(hours=1), START + timedelta(hours=2))]
    assert {r["ticket"] for r in middle} == {second} and middle[0]["seq"] == 1
    before = list(audit.export(START, START + timedelta(hours=1)))
    assert {json.loads(x)["ticket"] for x in before} == {first}


def test_csv_export_has_a_header_and_round_trips(runtime: Runtime, clock: FakeClock) -> None:
    two_tickets_over_three_hours(runtime, clock)
    text = "".join(AuditService(runtime).export(START, START + timedelta(days=1), "csv", batch=3))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    jsonl = [json.loads(x) for x in AuditService(runtime).export(START, START + timedelta(days=1), "jsonl")]
    assert len(rows) == len(jsonl)
    for row, record in zip(rows, jsonl, strict=True):
        assert json.loads(row["data"]) == record["data"] and row["hash"] == record["hash"]
        assert row["lane"] == (record["lane"] or "")


@pytest.mark.parametrize(("start", "end", "fmt"), [
    (START, START + timedelta(days=1), "xml"),
    (START + timedelta(days=1), START, "jsonl"),
    (START, START, "csv"),
    (START.replace(tzinfo=None), START + timedelta(days=1), "jsonl"),
    ("2026-03-01", START, "jsonl"),
])
def test_bad_export_arguments_are_refused_before_anything_is_read(
        runtime: Runtime, start: object, end: object, fmt: str) -> None:
    with pytest.raises(InvalidInput):
        AuditService(runtime).export(start, end, fmt)  # type: ignore[arg-type]


def bulk_events(runtime: Runtime, count: int, first_seq: int = 1000) -> None:
    """``count`` synthetic events on ticket 1, one second apart from 2026-04-01, inserted in bulk.

    Straight through the driver (SQLite's storage format for times): the ORM would take longer
    than the export under test. The events are not chained; the export does not check chains.
    """
    ticket_id = ticket_row(runtime, "T-000001").id
    base = datetime(2026, 4, 1)
    data = json.dumps({"form": {"note": "x" * 80}})
    rows = [(ticket_id, first_seq + n, (base + timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f"), data)
            for n in range(count)]
    with runtime.uow() as uow:
        uow.session.connection().exec_driver_sql(
            "INSERT INTO history_event (ticket_id, seq, at, actor, kind, element_id, element_name, lane, task_id, "
            "data, prev_hash, hash) VALUES (?, ?, ?, 'bulk', 'task_completed', 'classify_ticket', 'Classify', "
            f"'L1 Support', NULL, ?, '{'0' * 12}', X'{'f' * 64}')", rows)  # a link, and a hash's 32 bytes
        uow.commit()


def peak_bytes_exporting(audit: AuditService, start: datetime, end: datetime, fmt: str) -> tuple[int, int]:
    tracemalloc.start()
    try:
        lines = 0
        for _ in audit.export(start, end, fmt):
            lines += 1
        return tracemalloc.get_traced_memory()[1], lines
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("fmt", "small_count"), [("jsonl", 10_000), ("csv", 2_000)])
def test_exporting_ten_times_the_events_takes_no_more_memory(runtime: Runtime, fmt: str, small_count: int) -> None:
    """100,000 events as JSON Lines (and 20,000 as CSV, the same batching) in the working set of a tenth."""
    runtime.open_ticket(intake(), CUSTOMER)
    large_count = small_count * 10
    bulk_events(runtime, large_count)
    audit = AuditService(runtime)
    base = datetime(2026, 4, 1, tzinfo=UTC)
    small, small_lines = peak_bytes_exporting(audit, base, base + timedelta(seconds=small_count), fmt)
    large, large_lines = peak_bytes_exporting(audit, base, base + timedelta(seconds=large_count), fmt)
    header = 1 if fmt == "csv" else 0
    assert (small_lines, large_lines) == (small_count + header, large_count + header)
    # Ten times the events, the same working set: one keyset batch at a time.
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert large < 8 * 1024 * 1024
