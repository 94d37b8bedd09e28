"""The pieces that make a step cheap keep their promises: the journal hashes exactly as the chain
check does, the state encoder writes what SpiffWorkflow's own serializer writes, and a kept workflow
is only ever handed out for the ticket version it belongs to."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

import tasks
from engine.config import DEFAULT_LANE_ROLES
from engine.execution import workflow_state
from engine.execution.steps import copy_json, data_digest, new_workflow
from engine.execution.workflow_cache import WorkflowCache
from engine.process.definitions import Definition, DefinitionLoader, read_bundle
from engine.store.history import GENESIS, LINK_CHARS, Journal, Where, chain_hash

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn" / "support_ticket.bpmn"
AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def definition() -> Definition:
    bpmn, forms = read_bundle(DIAGRAM)
    return DefinitionLoader(list(tasks.build_registry()), DEFAULT_LANE_ROLES).load(bpmn, forms)


def chained_ticket() -> SimpleNamespace:
    return SimpleNamespace(id=7, history_seq=0, history_head="")


@pytest.mark.parametrize("data", [
    {},
    {"form": {"type": "incident", "steps": ["a", "b"], "count": 3, "ok": True, "none": None}},
    {"text": 'quotes " and \\ backslashes, tabs\t, newlines\n, \x01 control, é, 漢字, \u2028, emoji 😀'},
    {"score": 0.1 + 0.2, "big": 10**30, "tiny": 1.5e-07, "negative": -0.0},
    {"when": AT, "nested": {"z": 1, "a": [{"y": 2, "b": 3}]}},
])
@pytest.mark.parametrize("where", [Where(), Where("classify_ticket", "Classify ticket", "L1 Support",
                                                  "0b0c6ad6-7f64-4f5b-9a64-6a3c8b2d6f10")])
def test_journal_hash_is_the_chain_hash_of_the_event_as_stored(data: dict, where: Where) -> None:
    ticket = chained_ticket()
    journal = Journal(ticket)
    first = journal.record("task_completed", "lena", AT, data, where)
    second = journal.record("gateway_taken", 'o"tto', AT + timedelta(seconds=1), {"branch": "Yes"})
    for event, prev in ((first, GENESIS), (second, first.hash)):
        stored = {"ticket_id": event.ticket_id, "seq": event.seq, "at": event.at, "actor": event.actor,
                  "kind": event.kind, "element_id": event.element_id, "element_name": event.element_name,
                  "lane": event.lane, "task_id": event.task_id, "data": json.loads(event.data_json),
                  "prev_hash": prev}
        assert event.prev_hash == prev[:LINK_CHARS]  # the stored link; the hash covers the whole predecessor
        assert event.hash == chain_hash(stored)
    assert (ticket.history_seq, ticket.history_head) == (2, second.hash)
    assert [e.seq for e in journal.take()] == [1, 2] and journal.take() == []


def test_saved_state_is_what_spiffworkflows_serializer_writes(definition: Definition) -> None:
    data = {"ticket_number": "T-000001", "subject": "VPN drops", "when": AT, "window": timedelta(days=3),
            "tags": {"b", "a"} - {"b"}, "nested": {"list": [1, 2.5, None, {"deep": AT}]}}
    odd = new_workflow(definition, {**data, 3: "an int key, written as a string like json.dumps does"})
    assert json.loads(workflow_state.dump(odd)) == json.loads(workflow_state.SERIALIZER.serialize_json(odd))
    workflow = new_workflow(definition, data)
    ours = workflow_state.dump(workflow)
    assert json.loads(ours) == json.loads(workflow_state.SERIALIZER.serialize_json(workflow))
    restored = workflow_state.restore(ours, definition)
    assert workflow_state.dump(restored) == ours
    start_data = restored.task_tree.data
    assert start_data["when"] == AT and start_data["window"] == timedelta(days=3)
    assert start_data["nested"]["list"][3]["deep"] == AT


def test_saved_state_falls_back_to_the_stdlib_encoder_for_what_orjson_refuses(definition: Definition) -> None:
    workflow = new_workflow(definition, {"huge": 10**40})
    restored = workflow_state.restore(workflow_state.dump(workflow), definition)
    assert restored.task_tree.data["huge"] == 10**40


def test_a_kept_workflow_is_handed_out_only_for_its_own_version(definition: Definition) -> None:
    cache = WorkflowCache(size=2)
    state = workflow_state.dump(new_workflow(definition, {"n": 1}))
    kept = new_workflow(definition, {"n": 1})
    cache.put(1, 5, kept)
    assert cache.take(1, 5, state, definition) is kept
    assert cache.take(1, 5, state, definition) is not kept  # taken: the step owns it until it commits
    cache.put(1, 5, kept)
    assert cache.take(1, 6, state, definition) is not kept  # the row moved on: restore, never reuse
    assert len(cache) == 0  # and the stale copy is gone


def test_a_reader_of_an_older_version_never_replaces_a_newer_kept_workflow(definition: Definition) -> None:
    cache = WorkflowCache()
    state = workflow_state.dump(new_workflow(definition, {}))
    newer = new_workflow(definition, {})
    cache.put(1, 8, newer)
    older = cache.take(1, 7, state, definition)  # a read that began before version 8 committed
    assert older is not newer
    cache.put(1, 7, older)
    assert cache.take(1, 8, state, definition) is newer


def test_a_claim_moves_the_kept_workflow_to_the_new_version(definition: Definition) -> None:
    cache = WorkflowCache()
    state = workflow_state.dump(new_workflow(definition, {}))
    kept = new_workflow(definition, {})
    cache.put(1, 3, kept)
    cache.moved(1, seen=2, version=4)  # not the version kept: nothing moves
    cache.moved(1, seen=3, version=4)
    assert cache.take(1, 4, state, definition) is kept


def test_least_recently_used_workflows_are_dropped_beyond_the_size(definition: Definition) -> None:
    cache = WorkflowCache(size=2)
    for ticket in (1, 2, 3):
        cache.put(ticket, 1, new_workflow(definition, {}))
    assert len(cache) == 2
    assert cache.misses == 0
    cache.take(1, 1, workflow_state.dump(new_workflow(definition, {})), definition)
    assert cache.misses == 1


def test_json_copy_is_deep_and_digests_tell_true_from_one() -> None:
    data = {"a": [{"b": 1}], "c": "text"}
    copied = copy_json(data)
    copied["a"][0]["b"] = 2
    assert data["a"][0]["b"] == 1
    assert len({data_digest({"v": value})["v"] for value in (True, 1, 1.0, "1")}) == 4
