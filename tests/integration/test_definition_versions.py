"""Process owners control which deployed version new tickets start on, and can go back to a good one."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.errors import Forbidden, NotFound
from engine.process.definitions import read_bundle
from engine.process.lint import NS
from engine.runtime import Runtime
from tests.conftest import CUSTOMER, L1, OWNER, intake
from ticketflow.cli import main
from ticketflow.composition import BUNDLED_DIAGRAM

BPMN, FORMS = read_bundle(BUNDLED_DIAGRAM)


def renamed(name: str) -> bytes:
    """The bundled diagram with the classification task renamed (a new version's content)."""
    root = etree.fromstring(BPMN)
    root.xpath("//bpmn:userTask[@id='classify_ticket']", namespaces=NS)[0].set("name", name)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def started_on(runtime: Runtime) -> int:
    return runtime.open_ticket(intake(), CUSTOMER).definition_version


def test_a_new_version_is_active_at_once_unless_deployed_inactive(runtime: Runtime) -> None:
    first = started_on(runtime)
    staged, created = runtime.deploy(renamed("Classify (staged)"), FORMS, OWNER, activate=False)
    assert created and started_on(runtime) == first
    assert runtime.active_versions()["support_ticket"] == first

    runtime.activate("support_ticket", staged.version, OWNER)
    assert started_on(runtime) == staged.version


def test_going_back_to_the_previous_good_version_after_a_bad_deploy(runtime: Runtime) -> None:
    good = started_on(runtime)
    bad, _ = runtime.deploy(renamed("Classify (broken)"), FORMS, OWNER)
    assert started_on(runtime) == bad.version

    row, created = runtime.deploy(BPMN, FORMS, OWNER)  # the good file again: identical content, nothing new
    assert not created and row.version == good
    _, changed = runtime.activate("support_ticket", good, OWNER)
    assert changed and started_on(runtime) == good
    assert not runtime.activate("support_ticket", good, OWNER)[1]  # already active: no new record


def test_only_owners_activate_and_only_versions_that_exist(runtime: Runtime) -> None:
    with pytest.raises(Forbidden):
        runtime.activate("support_ticket", 1, L1)
    with pytest.raises(NotFound):
        runtime.activate("support_ticket", 99, OWNER)
    with pytest.raises(NotFound):
        runtime.activate("no_such_process", 1, OWNER)


def test_cli_deploys_a_diagram_saved_alone_with_the_latest_forms_and_offers_to_activate_an_identical_one(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["deploy", str(BUNDLED_DIAGRAM)]) == 0
    alone = tmp_path / "edited.bpmn"  # a modeler's save: no forms/ folder beside it
    alone.write_bytes(renamed("Classify type and priority (edited)"))
    assert main(["deploy", str(alone), "--inactive"]) == 0
    assert "v2, not active (v1 is)" in capsys.readouterr().out

    assert main(["definitions", "activate", "support_ticket", "2"]) == 0
    assert main(["deploy", str(BUNDLED_DIAGRAM)]) == 0
    out = capsys.readouterr().out
    assert "identical to support_ticket v1 (active is v2)" in out
    assert "ticketflow definitions activate support_ticket 1" in out
    assert main(["definitions", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("* support_ticket v2") and listing[1].startswith("  support_ticket v1")


def test_cli_migrate_dry_run_then_all_open_tickets(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], runtimes: object) -> None:
    monkeypatch.setenv("TICKETFLOW_DATABASE_URL", sqlite_url)
    assert main(["deploy", str(BUNDLED_DIAGRAM)]) == 0
    runtime = runtimes(sqlite_url)  # type: ignore[operator]
    number = runtime.open_ticket(intake(), CUSTOMER).number
    runtime.deploy(renamed("Classify (v2)"), FORMS, OWNER, activate=False)
    capsys.readouterr()
    assert main(["migrate", "support_ticket", "--from", "1", "--to", "2", "--all", "--dry-run"]) == 0
    assert f"{number} at Classify type and priority: can move" in capsys.readouterr().out
    assert runtime.get_ticket(number).definition_version == 1
    assert main(["migrate", "support_ticket", "--from", "1", "--to", "2", "--ticket", number]) == 0
    assert "1 moved" in capsys.readouterr().out
    assert runtime.get_ticket(number).definition_version == 2
    assert main(["migrate", "support_ticket", "--from", "1", "--to", "2", "--all", "--map", "nonsense"]) == 1
    assert "--map takes OLD=NEW" in capsys.readouterr().err
