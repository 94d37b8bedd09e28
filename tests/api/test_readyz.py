"""/readyz: ready only when the database answers, its migrations are current and a definition is deployed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.runtime import Runtime
from engine.store.db import upgrade
from engine.usecases.operations import migrations_head
from tests.api.conftest import Api, make_api


def not_ready(api: Api) -> str:
    """The plain-words reason of a 503, checked to be a problem like every other refusal."""
    response = api.client.get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert response.json["title"] == "Not ready" and response.json["request_id"]
    return str(response.json["detail"])


def test_ready_when_migrated_and_deployed(api: Api) -> None:
    response = api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "database": "reachable", "migrations": "current",
                              "definition": "deployed"}


def test_not_ready_without_a_deployed_definition(sqlite_url: str, runtimes: Callable[..., Runtime]) -> None:
    detail = not_ready(make_api(runtimes(sqlite_url)))
    assert detail == "no process definition is deployed: run `ticketflow deploy bpmn/support_ticket.bpmn`"


def test_not_ready_while_migrations_are_behind(tmp_path: Path, runtimes: Callable[..., Runtime]) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(url, "0002")
    api = make_api(runtimes(url), tokens={})
    assert not_ready(api) == (f"the database is at migration 0002 but this version needs {migrations_head()}: "
                              "run `ticketflow db upgrade`")
    upgrade(url)
    assert "no process definition is deployed" in not_ready(api)  # the next check now speaks


def test_not_ready_on_an_empty_database(tmp_path: Path, runtimes: Callable[..., Runtime]) -> None:
    api = make_api(runtimes(f"sqlite:///{tmp_path / 'empty.db'}"), tokens={})
    assert not_ready(api).startswith("the database is at migration none but this version needs")


def test_not_ready_when_the_database_does_not_answer(runtimes: Callable[..., Runtime]) -> None:
    gone = runtimes("postgresql://postgres@127.0.0.1:9/ticketflow")  # the discard port: nothing listens there
    api = make_api(gone, tokens={})
    assert not_ready(api) == "the database does not answer (OperationalError)"
    assert api.client.get("/healthz").status_code == 503
