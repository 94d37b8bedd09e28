"""HTTP fixtures: the real app over a migrated SQLite database, one user (and token) per role."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.runtime import Runtime
from engine.usecases.email_in import EmailIntake
from mail.intake import IntakeLimits, WebhookMailIntake
from web.app import WebSettings, create_app
from webhooks.inbound import StandardWebhooksVerifier

USERS = [("alice", "customer", "alice@example.com"), ("bob", "customer", "bob@example.com"),
         ("lena", "l1", None), ("otto", "l2", None), ("petra", "process_owner", None),
         ("aude", "auditor", None), ("root", "admin", None)]


@dataclass
class Api:
    """A test client that speaks as a named user: ``api.as_("lena").get(...)``."""

    app: Flask
    client: FlaskClient
    tokens: dict[str, str]

    def as_(self, name: str) -> Caller:
        return Caller(self.client, self.tokens[name])

    @property
    def runtime(self) -> Runtime:
        return self.app.extensions["ticketflow"].runtime


@dataclass
class Caller:
    client: FlaskClient
    token: str

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.post(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)


def make_api(runtime: Runtime, tokens: dict[str, str] | None = None, **settings: Any) -> Api:
    """The app over ``runtime``; creates the test users unless their ``tokens`` are handed in."""
    app = create_app(runtime, WebSettings(secret_key="test-secret", **settings), verifier=StandardWebhooksVerifier(),
                     ingest_email=WebhookMailIntake(EmailIntake.over(runtime), IntakeLimits()))
    if tokens is None:
        directory = app.extensions["ticketflow"].directory
        tokens = {name: directory.add_user(name, role, email)[1] for name, role, email in USERS}
    return Api(app, app.test_client(), tokens)


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return make_api(runtime)


def open_ticket(api: Api, customer: str = "alice", **fields: Any) -> dict[str, Any]:
    body = {"subject": "Cannot log in after password reset",
            "description": "The login page says 'invalid token' since I reset my password.", **fields}
    response = api.as_(customer).post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.json
    return response.json


def current_task(api: Api, number: str, reader: str = "root") -> dict[str, Any]:
    ticket = api.as_(reader).get(f"/api/v1/tickets/{number}").json
    assert len(ticket["ready_tasks"]) == 1, ticket["ready_tasks"]
    return ticket["ready_tasks"][0]


def complete(api: Api, number: str, user: str, data: dict[str, Any], status: int = 200,
             claim: bool = True) -> dict[str, Any]:
    """Claim (as an agent would) and complete the ticket's one ready task through HTTP."""
    task = current_task(api, number)
    caller = api.as_(user)
    if claim:
        assert caller.post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    response = caller.post(f"/api/v1/tasks/{task['id']}/complete", json=data)
    assert response.status_code == status, response.json
    return response.json


Completer = Callable[..., dict[str, Any]]
