"""A debug instrument: what a sandbox received and what it answered, for conformance tests.

`GET /_sandbox/requests` lists the last exchanges (method, path, query, body, chosen headers, and
the status, headers and body of the answer) so a test can run a real client against a sandbox
and check both sides against the provider's OpenAPI spec. `DELETE` empties it. Authorization is
never recorded (only that it was sent). Provider-neutral: every sandbox can mount it.

The middleware reads each request body in full before the app runs and hands it on unchanged.
Besides recording it, that closes a race: a fault that answers without reading the body (the
kit's error and rate-limit faults) left unread bytes on a keep-alive connection, the server then
closed it, and a client that had already reused it saw "Server disconnected without sending a
response" on its next, unrelated request.
"""

from __future__ import annotations

import fnmatch
import json
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_EXCHANGES = 1000
MAX_BODY_BYTES = 256 * 1024
SANDBOX_PREFIX = "/_sandbox/"
_HIDDEN_HEADERS = frozenset({"authorization", "cookie"})
"""Recorded as "[redacted]": a test may check a credential was sent, never read it."""


@dataclass
class Exchange:
    """One request and its answer (`status` None: the answer was never sent, e.g. a hang fault)."""

    seq: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    status: int | None = None
    response_headers: dict[str, str] | None = None
    response_body: Any = None


def _decode(raw: bytes) -> str:
    return raw[:MAX_BODY_BYTES].decode("utf-8", errors="replace")


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        headers[key] = "[redacted]" if key in _HIDDEN_HEADERS else value.decode("latin-1")
    return headers


class RequestRecorder:
    """The last `MAX_EXCHANGES` exchanges of one sandbox instance."""

    def __init__(self) -> None:
        self._exchanges: deque[Exchange] = deque(maxlen=MAX_EXCHANGES)
        self._next_seq = 1

    def start(self, scope: Scope) -> Exchange:
        exchange = Exchange(
            seq=self._next_seq,
            method=str(scope["method"]),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string", b"")).decode("latin-1"),
            headers=_headers(list(scope.get("headers", []))),
            body="",
        )
        self._next_seq += 1
        self._exchanges.append(exchange)
        return exchange

    def exchanges(self, path: str | None = None) -> list[Exchange]:
        return [e for e in self._exchanges if path is None or fnmatch.fnmatchcase(e.path, path)]

    def clear(self) -> None:
        self._exchanges.clear()

    def routes(self) -> list[BaseRoute]:
        async def list_exchanges(request: Request) -> Response:
            found = self.exchanges(request.query_params.get("path"))
            return JSONResponse({"requests": [asdict(exchange) for exchange in found]})

        async def clear_exchanges(request: Request) -> Response:
            self.clear()
            return Response(status_code=204)

        return [
            Route(f"{SANDBOX_PREFIX}requests", list_exchanges, methods=["GET"]),
            Route(f"{SANDBOX_PREFIX}requests", clear_exchanges, methods=["DELETE"]),
        ]


class RecorderMiddleware:
    """Outermost middleware: sees every provider request, faulted ones included."""

    def __init__(self, app: ASGIApp, recorder: RequestRecorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(SANDBOX_PREFIX):
            await self.app(scope, receive, send)
            return
        exchange = self.recorder.start(scope)
        body, disconnected = bytearray(), False
        while True:  # read the whole body first (see the module docstring)
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        exchange.body = _decode(bytes(body))
        delivered = False
        response_body = bytearray()

        async def replaying_receive() -> Message:
            nonlocal delivered
            if disconnected:
                return {"type": "http.disconnect"}
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                exchange.response_headers = _headers(list(message.get("headers", [])))
            elif message["type"] == "http.response.body":
                response_body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    text = _decode(bytes(response_body))
                    try:
                        exchange.response_body = json.loads(text) if text else None
                    except json.JSONDecodeError:
                        exchange.response_body = text
            await send(message)

        await self.app(scope, replaying_receive, recording_send)
