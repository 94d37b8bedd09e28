"""Fixtures for the pages: the app over the test runtime, one user per role, and a visitor that
signs in through the sign-in form and sends every form with the CSRF token its last page carried."""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.runtime import Runtime
from web.app import WebSettings, create_app

# Names match the actors of tests/conftest.py, so runtime calls and page visits are the same people.
PEOPLE = {"lena": "l1", "otto": "l2", "alice": "customer", "bob": "customer", "ada": "auditor",
          "petra": "process_owner", "root": "admin"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime, WebSettings(secret_key="test-secret-key"))


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    directory = app.extensions["ticketflow"].directory
    return {name: directory.add_user(name, role, email=f"{name}@example.com")[1] for name, role in PEOPLE.items()}


class Page(HTMLParser):
    """What a test needs from a rendered page: the text of elements by id, the form inputs, the links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text_of: dict[str, str] = {}
        self.inputs: dict[str, list[dict[str, str]]] = {}  # name -> the attributes of its elements
        self.links: list[str] = []
        self.options: dict[str, list[str]] = {}  # select name -> its option values
        self.chosen: dict[str, str] = {}  # name -> the selected option, or the checked box's value
        self._select = ""
        self._open: list[tuple[str, str | None]] = []

    @classmethod
    def of(cls, html: str) -> Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag in ("input", "select", "textarea") and "name" in attributes:
            self.inputs.setdefault(attributes["name"], []).append({"tag": tag, **attributes})
        if tag == "select":
            self._select = attributes.get("name", "")
        if tag == "option":
            self.options.setdefault(self._select, []).append(attributes.get("value", ""))
        if "selected" in attributes and tag == "option" or "checked" in attributes and tag == "input":
            self.chosen[attributes.get("name", self._select)] = attributes.get("value", "")
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if tag not in VOID:
            self._open.append((tag, attributes.get("id")))
            if attributes.get("id"):
                self.text_of.setdefault(attributes["id"], "")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text_of[element_id] += data

    def widget(self, name: str) -> str:
        """The kind of input a form field is rendered as: select, textarea, text, checkbox, radio, ..."""
        first = self.inputs[name][0]
        return first["tag"] if first["tag"] != "input" else first.get("type", "text")


class Visitor:
    """A browser stand-in on the Flask test client: keeps the session cookie and the page's CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, status: int = 200) -> TestResponse:
        response = self.client.get(path)
        assert response.status_code == status, (path, response.status_code, response.text[:2000])
        self._remember(response)
        return response

    def post(self, path: str, data: dict[str, Any], status: int = 302, csrf: str | None = None) -> TestResponse:
        response = self.client.post(path, data={"csrf_token": self.csrf if csrf is None else csrf, **data})
        assert response.status_code == status, (path, response.status_code, response.text[:3000])
        self._remember(response)
        return response

    def sign_in(self, token: str) -> TestResponse:
        self.get("/sign-in")
        return self.post("/sign-in", {"token": token})

    def _remember(self, response: TestResponse) -> None:
        if response.mimetype == "text/html":
            tokens = Page.of(response.text).inputs.get("csrf_token")
            if tokens:
                self.csrf = tokens[0]["value"]


@pytest.fixture
def visit(app: Flask, tokens: dict[str, str]) -> Any:
    """``visit("lena")``: a new visitor signed in as that person through the sign-in form."""

    def signed_in(name: str) -> Visitor:
        visitor = Visitor(app.test_client())
        visitor.sign_in(tokens[name])
        return visitor

    return signed_in
