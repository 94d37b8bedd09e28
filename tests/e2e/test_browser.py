"""A real browser against a real server: headless Chromium, driven over the DevTools protocol, signs
in as L1, opens the inbox and the classification task, sends it with a field missing, sees the error
next to that field, fills it and lands on the ticket page showing the next step.

Without Chromium (or websocket-client) the test is skipped on a laptop; under CI=true it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from engine.runtime import Runtime
from tests.conftest import CUSTOMER, intake

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--remote-debugging-port=0"]
DEADLINE = 30.0  # seconds for the browser to start or a page to reach the expected state


def unavailable() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (pip install -e '.[test]')"
    return None


def poll(check: Any, what: str, deadline: float = DEADLINE) -> Any:
    """The first truthy result of ``check()`` before the deadline; errors count as "not yet"."""
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            value = check()
        except Exception as exc:  # the page may be between documents, or the browser still starting
            last, value = exc, None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))


class DevTools:
    """The few DevTools protocol calls the scenario needs, on one page target."""

    def __init__(self, websocket_url: str) -> None:
        import websocket

        # Chromium refuses DevTools connections that send an Origin it was not told to allow.
        self.socket = websocket.create_connection(websocket_url, timeout=DEADLINE, suppress_origin=True)
        self.last_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.socket.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.last_id:  # events arriving meanwhile are not needed
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "script failed"))
        return result["result"].get("value")

    def wait(self, expression: str, what: str) -> Any:
        return poll(lambda: self.js(f"document.readyState === 'complete' && ({expression})"), what)

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    with open(tmp_path / "chromium.log", "wb") as log:
        process = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    devtools = None
    try:
        port_file = profile / "DevToolsActivePort"
        port = poll(lambda: port_file.is_file() and port_file.read_text().split("\n")[0].strip(),
                    "Chromium to open its DevTools port")

        def page_target() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        devtools = DevTools(poll(page_target, "a page target"))
        yield devtools
    finally:
        if devtools is not None:
            devtools.close()
        os.killpg(process.pid, signal.SIGTERM)  # the wrapper script and the browser it started
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_l1_signs_in_and_classifies_a_ticket_in_chromium(server: str, browser: DevTools, runtime: Runtime,
                                                          tokens: dict[str, str]) -> None:
    number = runtime.open_ticket(intake(), CUSTOMER).number
    task = runtime.get_ticket(number).ready_tasks[0]

    browser.call("Page.navigate", url=server + "/")
    browser.wait("location.pathname === '/sign-in' && !!document.getElementById('f-token')", "the sign-in form")
    browser.js(f"document.getElementById('f-token').value = {json.dumps(tokens['lena'])};"
               "document.querySelector('form[action=\"/sign-in\"] button[type=submit]').click()")
    browser.wait("location.pathname === '/inbox'", "the inbox after signing in")
    # The stylesheet is served and allowed by the Content-Security-Policy.
    assert browser.js("getComputedStyle(document.querySelector('header.top')).display") == "flex"

    link = f"a[href=\"/tasks/{task.id}\"]"
    assert browser.js(f"document.querySelector('{link}').textContent") == "Classify type and priority"
    browser.js(f"document.querySelector('{link}').click()")
    browser.wait(f"location.pathname === '/tasks/{task.id}' && !!document.getElementById('f-impact')",
                 "the classification form")

    browser.js("document.getElementById('f-type').value = 'incident';"
               "document.getElementById('f-urgency').value = 'medium';"
               "document.querySelector('form.task-form button[type=submit]').click()")
    error = browser.wait("document.getElementById('f-impact-error')?.textContent", "the error next to Impact")
    assert "Impact on the customer and business is required" in error
    assert browser.js("document.getElementById('f-impact').closest('.field').contains("
                      "document.getElementById('f-impact-error'))")
    assert browser.js("document.getElementById('f-type').value") == "incident"  # what was chosen is kept
    assert browser.js("document.getElementById('f-type-error')") is None
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "classify_ticket"

    browser.js("document.getElementById('f-impact').value = 'high';"
               "document.querySelector('form.task-form button[type=submit]').click()")
    browser.wait(f"location.pathname === '/tickets/{number}'", "the ticket page")
    text = browser.js("document.body.innerText")
    assert "Assess known resolution" in text and "P2" in text
    assert runtime.get_ticket(number).ready_tasks[0].element_id == "assess_first_level"
