"""A real HTTP receiver of outbound webhooks on loopback (``http.server`` in a thread) that keeps what it receives
and answers as a test tells it to."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


# What the receiver does with a request: (status, headers), or write the answer itself and return None.
Behaviour = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str]] | None]


@dataclass
class Receiver:
    behaviour: Behaviour = lambda handler: (200, {})
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?src=ticketflow"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.behaviour(self)
                if answer is None:
                    return
                status, headers = answer
                self.send_response(status)
                for name, value in {"content-length": "2", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every delivery's event, each checked with the library's ``Webhook.verify`` (raises if one fails)."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.received]
