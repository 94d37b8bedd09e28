"""A real browser on a real server: Debian's Chromium driven by Playwright, the app served on 127.0.0.1 in a
thread over the test runtime, and a ``Visit`` that checks every page it opens with axe-core, keeps a
screenshot of it, and fails on any Content-Security-Policy violation or script error.

Without Chromium or the built assets (``make assets``) the tests skip with the reason; under CI=true they fail.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, send_file
from werkzeug.serving import make_server

from engine.runtime import Runtime
from web.app import WebSettings, create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BUNDLE = ROOT / "web" / "static" / "build" / "diagram.js"
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"
PEOPLE = {"lena": "l1", "otto": "l2", "alice": "customer", "ada": "auditor", "petra": "process_owner",
          "root": "admin"}
BLOCKING = ("serious", "critical")  # axe impacts that fail a page
WAIT_MS = 15_000


def unavailable() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    for needed in (AXE, BUNDLE):
        if not needed.is_file():
            return f"{needed.relative_to(ROOT)} is missing: run `make assets` (npm ci, npm run build)"
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session; each test gets its own context (cookies, storage)."""
    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    app = create_app(runtime, WebSettings(secret_key="browser-test-secret-key"))
    # axe-core is a test tool, not part of the site: the test server alone hands it out, same-origin, so the
    # pages' CSP (scripts from 'self' only) applies unchanged while it runs.
    app.add_url_rule("/_test/axe.min.js", "test_axe", lambda: send_file(AXE, mimetype="text/javascript"))
    return app


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    directory = app.extensions["ticketflow"].directory
    return {name: directory.add_user(name, role, email=f"{name}@example.com")[1] for name, role in PEOPLE.items()}


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


class Visit:
    """One person's browser tab: sign in, open pages, and check each page opened."""

    def __init__(self, page: Any, server: str, test_name: str) -> None:
        self.page = page
        self.server = server
        self.test_name = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name)
        self.problems: list[str] = []
        self.checked: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("response", self._response)
        page.set_default_timeout(WAIT_MS)

    def _console(self, message: Any) -> None:
        if message.text.startswith("Failed to load resource"):
            return  # the response handler names the URL (and lets the browser's own favicon probe be)
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"{response.status} for {response.url}")

    def open(self, path: str) -> Any:
        self.page.goto(self.server + path)
        return self.page

    def sign_in(self, token: str) -> None:
        self.open("/sign-in")
        self.check("sign-in")
        self.page.fill("#f-token", token)
        self.page.click("form[action^='/sign-in'] button[type=submit]")
        self.page.wait_for_load_state()

    def check(self, name: str) -> list[dict[str, Any]]:
        """Run axe-core on the page as it is, save a screenshot; serious or critical violations fail."""
        page = self.page
        page.wait_for_load_state("load")
        if page.locator(".bpmn-diagram").count():
            page.wait_for_selector(".bpmn-diagram[data-state=ready], .bpmn-diagram[data-state=failed]",
                                   state="attached")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{self.test_name}--{len(self.checked):02d}-{name}.png"),
                        full_page=True)
        self.checked.append(name)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(url=f"{self.server}/_test/axe.min.js")
        violations: list[dict[str, Any]] = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => (
                 {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))""")
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"axe on {name} ({page.url}): {blocking}"
        return violations

    def finish(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def visit(chromium: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``visit(token)``: a fresh browser context signed in with ``token`` (or none), checked at the end."""
    contexts: list[Any] = []
    visits: list[Visit] = []

    def open_as(token: str | None) -> Visit:
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        visitor = Visit(context.new_page(), server, f"{request.node.name}-{len(visits)}")
        visits.append(visitor)
        if token is not None:
            visitor.sign_in(token)
        return visitor

    yield open_as
    for context in contexts:
        context.close()
    for visitor in visits:
        visitor.finish()
