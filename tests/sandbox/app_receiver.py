"""A stand-in for a Slack app's Interactivity Request URL: a real HTTP server on a free loopback port.

It records every request exactly as it arrived (path, headers, raw body) and answers with the
status and body a test sets. `hold()` makes it keep the request open until `release()` (a slow app,
without a sleep anywhere: the test decides when it answers). Started and stopped by the test; the
server thread is joined on stop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT_S = 30.0
"""A held request is answered after this at the latest (a test that forgets to release still ends)."""


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


@dataclass
class AppReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    answer: bytes = b""
    released: threading.Event = field(default_factory=threading.Event)

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the sandbox's 3 s) breaks the answer's pipe: expected, not an error."""


@contextlib.contextmanager
def running_receiver(path: str = "/slack/interactivity") -> Iterator[AppReceiver]:
    server = _QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = AppReceiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}")
    receiver.release()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            receiver.released.wait(HOLD_LIMIT_S)
            self.send_response(receiver.status)
            self.send_header("Content-Length", str(len(receiver.answer)))
            self.end_headers()
            self.wfile.write(receiver.answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the test reads `requests`."""

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, name="app-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
        thread.join()
