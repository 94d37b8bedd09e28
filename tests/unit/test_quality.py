"""The resolution record's quality gate: rules as data in the forms, applied by the form validator, checked by the
form lint, and shown as help next to the field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import InvalidInput
from engine.process import quality
from engine.process.form_schemas import closed_schema_problems
from engine.process.forms import validate_form
from tests.conftest import FIX, INVESTIGATE, SOLUTION
from web.pages.formfields import fields_of

FORMS = Path(__file__).parents[2] / "bpmn" / "forms"


def form(name: str) -> dict:
    return json.loads((FORMS / f"{name}.schema.json").read_text(encoding="utf-8"))


def refusals(name: str, data: dict) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        validate_form(form(name), data)
    found: dict[str, str] = {}
    for error in refused.value.errors:  # a field may break several rules: one message each
        found[error.pointer] = " | ".join(filter(None, (found.get(error.pointer), error.message)))
    return found


def test_the_repeated_empty_resolution_of_the_issue_is_refused() -> None:
    errors = refusals("apply_solution", {**SOLUTION, "actions_taken": "Fixed. Fixed. Fixed. Fixed. Fixed. ok"})
    assert set(errors) == {"/actions_taken"}
    assert errors["/actions_taken"] == (
        "Exact actions taken repeats the sentence 'Fixed': say each thing once | Exact actions taken says too little "
        "to be reviewed: use at least 7 different words (empty phrases like 'fixed', 'fixed it' do not count)")


@pytest.mark.parametrize(("field", "text", "says"), [
    ("actions_taken", "It is done and resolved, it works, all good, ok, fixed.", "at least 7 different words"),
    ("actions_taken", "Restarted the service on the node. Restarted the service on the node.", "repeats the sentence"),
    ("observed_outcome", "The ticket was closed by the agent.", "say what you observed"),
    ("observed_outcome", "it works now, ok", "at least 3 different words"),
])
def test_vague_fields_are_refused_in_plain_words(field: str, text: str, says: str) -> None:
    errors = refusals("apply_solution", {**SOLUTION, field: text})
    assert says in errors[f"/{field}"]
    assert errors[f"/{field}"].startswith({"actions_taken": "Exact actions taken",
                                           "observed_outcome": "Observed outcome"}[field])


def test_l2_fields_are_gated_too() -> None:
    assert "different words" in refusals("investigate_root_cause", {**INVESTIGATE, "root_cause": "bug, not sure"})[
        "/root_cause"]
    assert "repeats" in refusals("apply_definitive_fix", {**FIX, "fix_details": "Patched it up. Patched it up."})[
        "/fix_details"]


@pytest.mark.parametrize("record", [
    {"actions_taken": "Rebuilt the search index on the reporting replica and re-ran the customer's saved report.",
     "observed_outcome": "The saved report now loads in four seconds."},
    {"actions_taken": "Rotated the expired SAML signing certificate and re-imported the metadata into the IdP.",
     "observed_outcome": "Single sign-on succeeds again for every test account."},
    {"actions_taken": "Applied the documented workaround: disabled battery optimisation for the app on the phone.",
     "observed_outcome": "Push notifications arrive within seconds, confirmed with the customer."},
])
def test_good_records_pass(record: dict[str, str]) -> None:
    assert validate_form(form("apply_solution"), {**SOLUTION, **record})


def test_a_short_text_gets_one_reason_only() -> None:
    errors = refusals("apply_solution", {**SOLUTION, "actions_taken": "fixed it"})
    assert "at least 30 characters" in errors["/actions_taken"]


def test_the_form_lint_checks_the_rules() -> None:
    schema = form("apply_solution")
    assert closed_schema_problems("apply_solution.schema.json", schema, {}) == []
    schema["properties"]["actions_taken"]["x-quality"] = {"minWords": "eight", "emptyPhrase": ["x"],
                                                          "outcomeWords": [""]}
    problems = closed_schema_problems("apply_solution.schema.json", schema, {})
    assert len(problems) == 3
    assert any("unknown rule 'emptyPhrase'" in p for p in problems)
    assert any("'minWords' must be a whole number" in p for p in problems)
    assert any("'outcomeWords' must list non-empty words" in p for p in problems)


def test_the_rule_is_shown_as_help_next_to_the_field() -> None:
    fields = {f.name: f for f in fields_of(form("apply_solution"), {})}
    assert fields["actions_taken"].description.endswith(
        "Use at least 7 different words; words like 'fixed', 'fixed it', 'done', 'it works' do not count; "
        "say each thing once.")
    assert quality.help_text({}) == ""


def test_empty_phrases_are_cut_as_whole_words_only() -> None:
    assert quality.content_words("Abandoned cart emails are done", ["done"]) == {"abandoned", "cart", "emails"}
