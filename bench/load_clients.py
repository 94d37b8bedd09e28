"""HTTP clients that play tickets' lifecycles against a running server: the load benchmark's simulated agents and
customers, and the crash-safety test's clients, which keep going while the server is killed under them.

A request whose connection fails or drops has an unknown outcome (the server may have committed it before it
died): the lifecycle never resends blindly, it reads the ticket again and decides from what it finds. Completions
carry ``If-Match`` with the version they were decided on, so a resend after an unknown outcome is refused (409)
rather than applied twice; an opened ticket is found again by its subject, unique per lifecycle.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from bench.engine import (
    ASSESS_ESCALATE,
    ASSESS_RESOLVE,
    CLASSIFY,
    ESCALATE,
    FIX,
    INVESTIGATE,
    PERSISTS,
    RESOLVED,
    SOLUTION,
)

FOLLOW_UP = {"follow_up_channel": "phone", "follow_up_outcome": "will_test",
             "follow_up_notes": "Called the customer; they will test the fix today and answer."}
AGENT_FORMS: dict[str, tuple[str, dict[str, Any]]] = {  # element -> (who works it, what they submit)
    "classify_ticket": ("l1", CLASSIFY), "escalate_to_l2": ("l1", ESCALATE),
    "investigate_root_cause": ("l2", INVESTIGATE), "apply_definitive_fix": ("l2", FIX),
    "apply_solution": ("l1", SOLUTION), "follow_up_with_customer": ("l1", FOLLOW_UP),
}
GARBAGE_THREADS = 4


class Unreachable(Exception):
    """The connection failed or dropped: the request may or may not have been applied."""


class Refused(Exception):
    """The server answered with a status the lifecycle does not expect (counted as an error)."""


@dataclass(frozen=True)
class Answer:
    status: int
    document: Any
    retry_after: float
    etag: str | None = None


class Client:
    """One keep-alive HTTP/1.1 connection to the server on loopback, reopened after a failure; it times every
    answered request by its kind (milliseconds).

    As thin as a load generator such as wrk: it writes the request in one piece and reads what the server answers
    (a status line, header fields, a body by Content-Length or chunks, or up to the close). The standard library's
    ``http.client`` parses header fields through the email package, about 0.2 ms a request here; the clients share
    the machine's two cores with the server, so their cost is taken from what is measured.
    """

    def __init__(self, port: int, timeout: float = 10.0, source: str = "127.0.0.1") -> None:
        self.port, self.timeout, self.source = port, timeout, source
        self.sock: socket.socket | None = None
        self.pending = b""  # what was received past the last answer
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[int, int] = defaultdict(int)

    def send(self, kind: str, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Answer:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Authorization: Bearer {token}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if payload or method in ("POST", "PUT", "PATCH"):
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload
        began = time.perf_counter()
        try:
            self._socket().sendall(request)
            status, fields, data = self._answer()
        except (OSError, ValueError) as exc:  # ValueError: an answer that is not HTTP/1.1 as the server speaks it
            self.close()
            raise Unreachable(f"{method} {path}: {exc!r}") from exc
        self.samples[kind].append((time.perf_counter() - began) * 1000.0)
        self.statuses[status] += 1
        if fields.get("connection", "").lower() == "close":
            self.close()
        document = json.loads(data) if data and "json" in fields.get("content-type", "") else None
        return Answer(status, document, float(fields.get("retry-after") or 0), fields.get("etag"))

    def _answer(self) -> tuple[int, dict[str, str], bytes]:
        """(status, header fields by lower-case name, body) of the next answer on the connection."""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, status, *_ = head[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x status line: {head[0][:80]!r}")
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            return int(status), fields, self._take(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            return int(status), fields, self._chunks()
        if int(status) in (204, 304):
            return int(status), fields, b""
        fields["connection"] = "close"  # the body runs to the end of the connection
        return int(status), fields, self._rest()

    def _chunks(self) -> bytes:
        body = b""
        while size := int(self._until(b"\r\n").split(b";")[0], 16):
            body += self._take(size)
            self._take(2)  # the CRLF after the chunk
        self._until(b"\r\n")  # no trailer fields from this server: the empty line that ends the body
        return body

    def _until(self, mark: bytes) -> bytes:
        """What comes before ``mark``, which is consumed too."""
        while (at := self.pending.find(mark)) < 0:
            self._receive()
        found, self.pending = self.pending[:at], self.pending[at + len(mark):]
        return found

    def _take(self, size: int) -> bytes:
        while len(self.pending) < size:
            self._receive()
        found, self.pending = self.pending[:size], self.pending[size:]
        return found

    def _rest(self) -> bytes:
        sock = self._socket()
        while chunk := sock.recv(65536):
            self.pending += chunk
        found, self.pending = self.pending, b""
        return found

    def _receive(self) -> None:
        chunk = self._socket().recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.pending += chunk

    def _socket(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout,
                                                 source_address=(self.source, 0))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pending = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.pending = b""


@dataclass(frozen=True)
class Tokens:
    customer: str
    l1: str
    l2: str

    def of(self, role: str) -> str:
        return str(getattr(self, role))


@dataclass(frozen=True)
class Script:
    """How one ticket goes: resolved by L1 or escalated; how often the customer says it persists; whether the
    customer stays silent until L1 has followed up in person (after the unit's reminders)."""

    escalate: bool = False
    persists: int = 0
    silent: bool = False


LOAD_SCRIPTS = (Script(), Script(), Script(escalate=True), Script())  # the benchmark's mix: one in four to L2


class Lifecycle:
    """Plays one ticket from opening to closing over HTTP, surviving a server that dies under it."""

    def __init__(self, client: Client, tokens: Tokens, script: Script, subject: str, thorough: bool = False,
                 pause: float = 0.05) -> None:
        self.client, self.tokens, self.script, self.subject = client, tokens, script, subject
        self.thorough = thorough  # as people work: list, read and claim before completing
        self.pause = pause
        self.unknown_outcomes = 0

    def play(self, deadline: float) -> str:
        """Open the ticket and work it until it is closed; the ticket's number. Refused past ``deadline``."""
        number = self.open(deadline)
        ticket = self.read(number, deadline)
        while ticket["status"] != "closed":
            task, form = self.next_work(ticket)
            if task is None:
                if "trail" in ticket:  # else the decision needs the trail, which a completion's answer lacks
                    self._wait(deadline)  # for a timer or another step
                ticket = self.read(number, deadline)
                continue
            ticket = self.complete(ticket, task, form, deadline)
        return number

    # -- the requests, each safe to repeat after an unknown outcome ---------------------------------------------
    def open(self, deadline: float) -> str:
        intake = {"subject": self.subject, "description": "Since this morning the VPN client disconnects often."}
        while True:
            try:
                answer = self.client.send("open ticket", "POST", "/api/v1/tickets", self.tokens.customer, intake)
                if answer.status == 201:
                    return str(answer.document["number"])
                self._refused_unless_busy(answer, "open ticket")
            except Unreachable:
                self.unknown_outcomes += 1
                found = self._opened(deadline)
                if found is not None:
                    return found
            self._wait(deadline)

    def _opened(self, deadline: float) -> str | None:
        """The ticket this lifecycle opened, if a request whose answer was lost opened it."""
        offset = 0
        while True:
            answer = self._get("find ticket", f"/api/v1/tickets?limit=100&offset={offset}", self.tokens.customer,
                               deadline)
            for item in answer["items"]:
                if item["subject"] == self.subject:
                    return str(item["number"])
            offset += 100
            if offset >= answer["total"]:
                return None

    def read(self, number: str, deadline: float) -> dict[str, Any]:
        return self._get("get ticket", f"/api/v1/tickets/{number}", self.tokens.l1, deadline)  # type: ignore[no-any-return]

    def complete(self, ticket: dict[str, Any], task: dict[str, Any], form: tuple[str, dict[str, Any]],
                 deadline: float) -> dict[str, Any]:
        """Complete ``task`` as decided on ``ticket``'s version; the ticket as it is afterwards."""
        role, data = form
        token = self.tokens.of(role)
        version = ticket["version"]
        if self.thorough and role != "customer":
            self._get("task list", f"/api/v1/tasks?lane={task['lane'].replace(' ', '%20')}&limit=20", token, deadline)
            self._get("task detail", task["href"], token, deadline)
            claimed = self._post_ok("claim", f"{task['href']}/claim", token, deadline)
            if claimed.status == 200 and claimed.etag:
                version = claimed.etag.strip('"')  # the claim moved the ticket on: decide on what it answered
        try:
            answer = self.client.send(f"complete {task['element_id']}", "POST", f"{task['href']}/complete", token,
                                      data, {"If-Match": f'"{version}"'})
        except Unreachable:
            self.unknown_outcomes += 1
            return self.read(ticket["number"], deadline)  # done or not: the ticket says
        if answer.status == 200:
            return answer.document  # type: ignore[no-any-return]
        if answer.status != 409:  # 409: someone (this client, before a kill) moved the ticket on; read again
            self._refused_unless_busy(answer, f"complete {task['element_id']}")
        return self.read(ticket["number"], deadline)

    # -- what to do next -------------------------------------------------------------------------------------
    def next_work(self, ticket: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, dict[str, Any]]]:
        """The ready task to work now and its form; (None, ...) when the ticket waits for a timer. What was done
        before is read from the ticket's trail, never remembered: an answer lost in a crash may have been applied."""
        ready = {t["element_id"]: t for t in ticket["ready_tasks"]}
        for element, form in AGENT_FORMS.items():
            if element in ready:
                return ready[element], form
        if "assess_first_level" in ready:
            return ready["assess_first_level"], ("l1", ASSESS_ESCALATE if self.script.escalate else ASSESS_RESOLVE)
        if "test_and_confirm" in ready:
            if "trail" not in ticket:
                return None, ("customer", RESOLVED)  # read it first
            if self.script.silent and not _done(ticket, "follow_up_with_customer"):
                return None, ("customer", RESOLVED)  # silent until L1 has called
            persists = _done(ticket, "test_and_confirm") < self.script.persists
            return ready["test_and_confirm"], ("customer", PERSISTS if persists else RESOLVED)
        return None, ("customer", RESOLVED)

    # -- plumbing ------------------------------------------------------------------------------------------------
    def _get(self, kind: str, path: str, token: str, deadline: float) -> Any:
        while True:
            try:
                answer = self.client.send(kind, "GET", path, token)
                if answer.status == 200:
                    return answer.document
                self._refused_unless_busy(answer, kind)
            except Unreachable:
                pass
            self._wait(deadline)

    def _post_ok(self, kind: str, path: str, token: str, deadline: float) -> Answer:
        answer = self.client.send(kind, "POST", path, token)
        if answer.status not in (200, 409):  # 409: already claimed
            self._refused_unless_busy(answer, kind)
        return answer

    def _refused_unless_busy(self, answer: Answer, kind: str) -> None:
        """Too many requests (429) or unavailable (503): wait as told; anything else is an error."""
        if answer.status in (429, 503):
            time.sleep(min(answer.retry_after or self.pause, 2.0))
            return
        raise Refused(f"{kind} of {self.subject!r}: {answer.status} {answer.document}")

    def _wait(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{self.subject!r} did not finish in time")
        time.sleep(self.pause)


def _done(ticket: dict[str, Any], element: str) -> int:
    """How many times the ticket's trail says ``element`` was completed."""
    return sum(1 for e in ticket.get("trail", ()) if e["kind"] == "task_completed" and e["element_id"] == element)


# -- the load benchmark's client processes -------------------------------------------------------------------
def agent_process(port: int, tokens: Tokens, name: str, began: float, warm_up: float, end: float,
                  pace: float | None, results: Any, offset: float = 0.0) -> None:
    """Play lifecycles until ``end`` (closed loop, or one started every ``pace`` seconds from ``began + offset``);
    counted after warm-up."""
    client = Client(port, timeout=30.0)
    done, errors, n = 0, [], 0
    counted = began + warm_up
    while time.monotonic() < end:
        if pace is not None:
            time.sleep(max(0.0, began + offset + n * pace - time.monotonic()))
        script = LOAD_SCRIPTS[n % len(LOAD_SCRIPTS)]
        lifecycle = Lifecycle(client, tokens, script, f"{name} lifecycle {n}", thorough=True)
        n += 1
        try:
            lifecycle.play(end + 30)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure as an error
            errors.append(repr(exc)[:300])
            continue
        finally:
            # Each lifecycle is new visits on a new connection. A few clients on one keep-alive connection each would
            # stay with whichever web worker accepted it (the kernel spreads connections, not requests): with 4 of
            # them, a second worker was left idle and measured no scaling at all.
            client.close()
        if time.monotonic() < counted:  # warming up: nothing counts yet
            client.samples.clear()
            client.statuses.clear()
        elif time.monotonic() <= end:
            done += 1
    client.close()
    results.put({"lifecycles": done, "errors": errors, "samples": dict(client.samples),
                 "statuses": dict(client.statuses)})


def garbage_process(port: int, token: str, end: float, results: Any) -> None:
    """As fast as answers come, on several connections from an address of its own (127.0.0.2): malformed JSON
    with a valid token, and requests with a made-up token, a new one each time."""
    counts: list[Counter[int]] = [Counter() for _ in range(GARBAGE_THREADS)]  # one per thread: no shared writes
    began = time.monotonic()
    threads = [threading.Thread(target=_garbage, args=(port, token, end, c)) for c in counts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = sum(counts, Counter())
    results.put({"lifecycles": 0, "errors": [], "samples": {}, "statuses": {}, "garbage": dict(sent),
                 "garbage_seconds": time.monotonic() - began})


GARBAGE_ADDRESS = "127.0.0.2"  # another machine, as a flood comes from: loopback answers all of 127/8 on Linux


def _garbage(port: int, token: str, end: float, sent: Counter[int]) -> None:
    client = Client(port, timeout=30.0, source=GARBAGE_ADDRESS)
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            if n % 4:
                answer = client.send("garbage", "POST", "/api/v1/tickets", token, raw=b'{"subject": "x", ')
            else:
                answer = client.send("garbage", "GET", "/api/v1/tasks", f"made-up-token-{n}")  # a new one each time
            sent[answer.status] += 1
        except Exception:  # noqa: BLE001 - the garbage client never stops
            sent[0] += 1
    client.close()
