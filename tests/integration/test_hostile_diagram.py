"""A deployed diagram whose code explodes on its data: the step fails cleanly, the server keeps answering."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lxml import etree
from werkzeug.serving import make_server

from engine.errors import DefinitionRejected, StepFailed
from engine.execution.clock import FakeClock
from engine.process.definitions import read_bundle
from engine.process.guards import configure_limits
from engine.process.lint import NS
from engine.runtime import Runtime
from tests.api.conftest import make_api
from tests.conftest import ASSESS_RESOLVE, CLASSIFY, CUSTOMER, L1, OWNER, RESOLVED, SOLUTION, complete_current, intake
from ticketflow.composition import BUNDLED_DIAGRAM

TIME_LIMIT = 0.5
# Passes the deploy check (nothing constant is over a limit) but iterates 10**6 times per character.
SLOW = "sum(1 for i in range(10**6) for j in range(len({})))"
BUNDLED_BPMN, BUNDLED_FORMS = read_bundle(BUNDLED_DIAGRAM)


@pytest.fixture(autouse=True)
def tight_limits(runtime: Runtime) -> Iterator[None]:
    previous = configure_limits(TIME_LIMIT, 64)  # after the runtime, which sets the configured limits
    yield
    configure_limits(previous.seconds, previous.memory_mb)


def deploy_edited(runtime: Runtime, change: Callable[[etree._Element], None]) -> None:
    root = etree.fromstring(BUNDLED_BPMN)
    change(root)
    runtime.deploy(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), BUNDLED_FORMS, OWNER)


def hostile_gateway(root: etree._Element) -> None:
    flow = root.xpath("//bpmn:sequenceFlow[@id='flow_first_level_yes']/bpmn:conditionExpression", namespaces=NS)[0]
    flow.text = f"{SLOW.format('assessment')} > 0 and resolve_at_first_level == True"


def snapshot(runtime: Runtime, number: str) -> tuple[int, str, list[str], int]:
    """What must not change when a step fails: version, status, ready tasks, history length."""
    ticket = runtime.get_ticket(number)
    return ticket.version, ticket.status, [t.id for t in ticket.ready_tasks], len(runtime.ticket_history(number))


# -- over HTTP, with the server running in threads as `ticketflow serve` does -------------------------

class Server:
    def __init__(self, runtime: Runtime) -> None:
        self.api = make_api(runtime)
        self.http = make_server("127.0.0.1", 0, self.api.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def call(self, method: str, path: str, user: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = f"Bearer {self.api.tokens[user]}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def server(runtime: Runtime) -> Iterator[Server]:
    served = Server(runtime)
    yield served
    served.http.shutdown()
    served.thread.join(timeout=5)


def poll_healthz(server: Server, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        status, _ = server.call("GET", "/healthz")
        assert status == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.02)


def test_a_hostile_gateway_condition_fails_the_step_while_the_server_keeps_answering(
        runtime: Runtime, server: Server) -> None:
    deploy_edited(runtime, hostile_gateway)
    status, ticket = server.call("POST", "/api/v1/tickets", "alice", {
        "subject": "Cannot log in after password reset",
        "description": "The login page says 'invalid token' since I reset my password."})
    assert status == 201, ticket
    number = ticket["number"]
    complete_current(runtime, number, L1, CLASSIFY)
    before = snapshot(runtime, number)
    task = before[2][0]
    assert server.call("POST", f"/api/v1/tasks/{task}/claim", "lena")[0] == 200
    before = snapshot(runtime, number)

    stop, latencies = threading.Event(), []
    poller = threading.Thread(target=poll_healthz, args=(server, stop, latencies))
    poller.start()
    started = time.monotonic()
    status, problem = server.call("POST", f"/api/v1/tasks/{task}/complete", "lena", ASSESS_RESOLVE)
    took = time.monotonic() - started
    stop.set()
    poller.join(timeout=10)

    assert status == 502, problem
    assert problem["title"] == "Process step failed"  # the diagram's fault, told in plain words
    assert "could not be completed" in problem["detail"] and "Traceback" not in problem["detail"]
    assert took < TIME_LIMIT + 2.5
    assert len(latencies) >= 3 and max(latencies) < 1.0, latencies  # /healthz answered throughout
    assert snapshot(runtime, number) == before  # ticket unchanged: same version, status, task, history
    retried, _ = server.call("POST", f"/api/v1/tasks/{task}/complete", "lena", ASSESS_RESOLVE)
    assert retried == 502  # still ready and retryable: the same clear error, not a conflict


# -- the other places diagram code runs -------------------------------------------------------------

def test_a_hostile_service_parameter_fails_the_step_and_leaves_the_ticket_unchanged(runtime: Runtime) -> None:
    def inject(root: etree._Element) -> None:
        param = root.xpath("//spiffworkflow:parameter[@id='query']", namespaces=NS)[0]
        param.set("value", f'subject + " " + description if {SLOW.format("description")} else ""')

    deploy_edited(runtime, inject)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    before = snapshot(runtime, number)
    with pytest.raises(StepFailed, match="took longer than 0.5 s"):
        complete_current(runtime, number, L1, CLASSIFY)
    assert snapshot(runtime, number) == before


def test_a_hostile_timer_expression_fails_the_step_and_leaves_the_ticket_unchanged(runtime: Runtime) -> None:
    def inject(root: etree._Element) -> None:
        timer = root.xpath("//bpmn:timeCycle", namespaces=NS)[0]
        timer.text = f'"R/" + validation_request["response_window"] * {SLOW.format("customer_message")}'

    deploy_edited(runtime, inject)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    complete_current(runtime, number, L1, CLASSIFY)
    complete_current(runtime, number, L1, ASSESS_RESOLVE)
    before = snapshot(runtime, number)
    with pytest.raises(StepFailed):
        complete_current(runtime, number, L1, SOLUTION)
    assert snapshot(runtime, number) == before


def test_a_hostile_reminder_parameter_stalls_the_ticket_in_the_worker_instead_of_hanging_it(
        runtime: Runtime, clock: FakeClock) -> None:
    def inject(root: etree._Element) -> None:
        params = root.xpath("//bpmn:serviceTask[@id='send_follow_up']//spiffworkflow:parameters", namespaces=NS)[0]
        etree.SubElement(params, f"{{{NS['spiffworkflow']}}}parameter", id="note", type="int",
                         value="(int(ticket_number[2:]) + 9) ** int(ticket_number[2:] + '0' * 9)")

    deploy_edited(runtime, inject)
    number = runtime.open_ticket(intake(), CUSTOMER).number
    for data in (CLASSIFY, ASSESS_RESOLVE, SOLUTION):
        complete_current(runtime, number, L1, data)
    version = runtime.get_ticket(number).version
    clock.advance(days=4)  # past the unit's 3-day response window: the reminder is due
    started = time.monotonic()
    assert runtime.fire_due_timers() == []
    assert time.monotonic() - started < TIME_LIMIT + 2.5
    ticket = runtime.get_ticket(number)
    assert ticket.status == "stalled" and ticket.version == version + 1  # only the failure was recorded
    failure = runtime.ticket_history(number)[-1]
    assert failure.kind == "step_failed" and "bits" in json.dumps(failure.data)
    complete_current(runtime, number, CUSTOMER, RESOLVED)  # the customer's task is still there to finish


@pytest.mark.parametrize("condition", ['open("/etc/passwd").read() != ""', "getattr(resolve_at_first_level, 'real')",
                                       "eval('resolve_at_first_level')"])
def test_a_gateway_condition_calling_what_diagram_code_may_not_is_refused_at_deploy_naming_the_flow(
        runtime: Runtime, condition: str) -> None:
    def inject(root: etree._Element) -> None:
        flow = root.xpath("//bpmn:sequenceFlow[@id='flow_first_level_yes']/bpmn:conditionExpression",
                          namespaces=NS)[0]
        flow.text = condition

    deployed = len(runtime.list_definitions())
    with pytest.raises(DefinitionRejected) as refused:
        deploy_edited(runtime, inject)
    assert "flow_first_level_yes" in str(refused.value) and "may not call" in str(refused.value)
    assert len(runtime.list_definitions()) == deployed
