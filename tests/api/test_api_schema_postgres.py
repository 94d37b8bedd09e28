"""The property-based API run (see test_api_schema.py) on PostgreSQL, with hostile text in its alphabet: NUL
characters (PostgreSQL refuses them in text) and lone surrogates (not UTF-8 at all) put into the strings of
generated bodies. Every answer must still be a documented 4xx or a success, never a 5xx."""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from engine.runtime import Runtime
from tests.api.conftest import Api, make_api, open_ticket
from ticketflow.composition import deploy_file

HOSTILE = ("\x00", "\ud800", "\udfff", "a\x00b", "\ud83c")  # NUL, lone high/low surrogates, half an emoji


def hostile(value: Any, chance: random.Random) -> Any:
    """``value`` with hostile characters spliced into about half of its strings, keys included."""
    if isinstance(value, str):
        return value + chance.choice(HOSTILE) if chance.random() < 0.5 else value
    if isinstance(value, dict):
        return {hostile(k, chance): hostile(v, chance) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v, chance) for v in value]
    return value


@pytest.fixture
def pg_api(postgres_url: str, runtimes: Callable[..., Runtime]) -> Api:
    runtime = runtimes(postgres_url)
    deploy_file(runtime)
    return make_api(runtime)


@pytest.fixture
def pg_openapi_schema(pg_api: Api) -> schemathesis.BaseSchema:
    open_ticket(pg_api)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", pg_api.app)
    schema.config.generation.update(with_security_parameters=False, allow_x00=True)
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


pg_schema = schemathesis.pytest.from_fixture("pg_openapi_schema")


@pytest.mark.postgres
@pg_schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_on_postgresql_answers_hostile_text_without_a_5xx(case: schemathesis.Case, pg_api: Api) -> None:
    body = hostile(case.body, random.Random(repr(case.body)))
    for caller in ("root", "alice", "lena"):
        # Sent by the app's test client: its JSON encoder escapes a lone surrogate ("\\ud800"), as a real
        # client's would; schemathesis's own encoder refuses to send one.
        headers = {**(case.headers or {}), "Authorization": f"Bearer {pg_api.tokens[caller]}"}
        kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict | list) else {}
        response = pg_api.client.open(case.formatted_path, method=case.method, query_string=case.query,
                                      headers=headers, **kwargs)
        assert response.status_code < 500, (caller, case.method, case.formatted_path, response.get_data(True)[:300])
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (case.formatted_path, response.status_code)
    case.call_and_validate(headers={"Authorization": f"Bearer {pg_api.tokens['root']}"},
                           excluded_checks=[positive_data_acceptance])
