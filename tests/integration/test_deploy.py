"""Definitions are versioned by content; tickets stay on the version they started on."""
from __future__ import annotations

import json

import pytest

from engine.errors import DefinitionRejected, Forbidden
from engine.process.definitions import read_bundle
from engine.runtime import Runtime
from tests.conftest import CLASSIFY, CUSTOMER, L1, OWNER, complete_current, intake
from ticketflow.composition import BUNDLED_DIAGRAM


def _with_new_classification_field(forms: dict[str, bytes]) -> dict[str, bytes]:
    schema = json.loads(forms["classify_ticket.schema.json"])
    schema["properties"]["affected_service"] = {"type": "string", "title": "Affected service", "minLength": 2}
    schema["required"] = [*schema["required"], "affected_service"]
    return {**forms, "classify_ticket.schema.json": json.dumps(schema).encode()}


def test_redeploying_identical_content_is_a_no_op(runtime: Runtime) -> None:
    bpmn, forms = read_bundle(BUNDLED_DIAGRAM)
    row, created = runtime.deploy(bpmn, forms, OWNER)
    assert (row.version, created) == (1, False)


def test_running_tickets_stay_on_their_version_after_a_redeploy(runtime: Runtime) -> None:
    old = runtime.open_ticket(intake(), CUSTOMER).number
    bpmn, forms = read_bundle(BUNDLED_DIAGRAM)
    row, created = runtime.deploy(bpmn, _with_new_classification_field(forms), OWNER)
    assert (row.version, created) == (2, True)
    new = runtime.open_ticket(intake(customer="bob"), CUSTOMER.__class__("bob", "customer"))
    assert (runtime.get_ticket(old).definition_version, new.definition_version) == (1, 2)
    # The old ticket still uses version 1's form; the new one needs the added field.
    assert complete_current(runtime, old, L1, CLASSIFY).priority == "P2"
    from engine.errors import InvalidInput

    with pytest.raises(InvalidInput, match="invalid"):
        complete_current(runtime, new.number, L1, CLASSIFY)
    assert complete_current(runtime, new.number, L1, {**CLASSIFY, "affected_service": "auth"}).priority == "P2"


def test_only_process_owners_and_admins_deploy_and_a_bad_diagram_changes_nothing(runtime: Runtime) -> None:
    bpmn, forms = read_bundle(BUNDLED_DIAGRAM)
    with pytest.raises(Forbidden):
        runtime.deploy(bpmn, _with_new_classification_field(forms), L1)
    with pytest.raises(DefinitionRejected, match="unknown service operator"):
        runtime.deploy(bpmn.replace(b'id="record_closure"', b'id="format_disk"'), forms, OWNER)
    assert runtime.open_ticket(intake(), CUSTOMER).definition_version == 1
