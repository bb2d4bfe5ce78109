"""The pieces that turn a provider's Starlette routes into a sandbox app.

- `FaultMiddleware` applies fault rules to every provider route (never to `/_sandbox/*`).
- `ResponseHeadersMiddleware` stamps provider headers (Stripe's Request-Id, HubSpot's rate-limit
  headers) on every response, including fault responses, because real clients read them there too.
- `sandbox_routes` are the test-instrument endpoints; `build_sandbox_app` mounts all of it.

Latency is deferred rather than slept in the middleware: a provider calls
`apply_pending_latency` at the moment its request "starts executing" (for Stripe: after the
idempotency key is claimed), so a delayed request is genuinely in flight while it waits and a
concurrent request with the same key sees it. If a route never calls it, the middleware sleeps
before the response starts, so a latency rule always takes effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

from pivot.providers.sandbox_kit.faults import FaultBook, FaultRule, FaultSpec
from pivot.providers.sandbox_kit.ledger import Ledger
from pivot.providers.sandbox_kit.operations import graphql_operation

SANDBOX_PREFIX = "/_sandbox/"
_LATENCY_SCOPE_KEY = "pivot.sandbox.pending_latency"

log = logging.getLogger("pivot.sandbox")

_Endpoint = Callable[[Request], Awaitable[Response]]


class FaultResponder(Protocol):
    """How a provider says "error" and "slow down" in its own wire format."""

    def error(self, status: int, body: dict[str, Any] | None) -> Response:
        """The response for an injected error; `body` None means the provider's own error shape."""
        ...

    def rate_limited(self, retry_after: float | None) -> Response:
        """The provider's 429, with Retry-After when given."""
        ...


def format_retry_after(seconds: float) -> str:
    """Retry-After is delay-seconds; whole numbers are written as integers, as providers do."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@dataclass
class _PendingLatency:
    seconds: float
    applied: bool = False


async def apply_pending_latency(scope: Scope) -> None:
    """Sleep for a latency fault attached to this request, once; a no-op otherwise."""
    pending = scope.get(_LATENCY_SCOPE_KEY)
    if isinstance(pending, _PendingLatency) and not pending.applied:
        pending.applied = True
        await asyncio.sleep(pending.seconds)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then listens to the client again
    (so a held or hanging request still sees the client leave)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FaultMiddleware:
    """Applies the first matching fault rule to each provider request."""

    def __init__(self, app: ASGIApp, faults: FaultBook, responder: FaultResponder) -> None:
        self.app = app
        self.faults = faults
        self.responder = responder
        self._held: set[asyncio.Future[None]] = set()
        """Held requests still running after their client left (kept referenced until done)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(SANDBOX_PREFIX):
            await self.app(scope, receive, send)
            return
        method, path, operation = str(scope["method"]), str(scope["path"]), None
        if self.faults.wants_operation(method, path):  # a rule names a GraphQL operation: read the body
            body = await _read_body(receive)
            operation, receive = graphql_operation(body), _replaying(body, receive)
        rule = self.faults.take(method, path, operation)
        if rule is None:
            await self.app(scope, receive, send)
            return
        log.info("fault %s (%s) fires on %s %s %s", rule.id, rule.spec.action, method, path, operation or "")
        action = rule.spec.action
        if action in ("error", "rate_limit"):
            await self._refuse(rule, scope, receive, send)
        elif action == "latency":
            await self._delayed(rule, scope, receive, send)
        else:
            await self._commit_then_hang(rule, scope, receive, send)

    async def _refuse(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer at once without executing: nothing stored, nothing in the ledger.

        The request body is read (and dropped) first: answering with it unread leaves it on a
        keep-alive connection, where it broke the next, unrelated request now and then."""
        more = True
        while more:
            message = await receive()
            more = message["type"] == "http.request" and bool(message.get("more_body"))
        if rule.spec.action == "rate_limit":
            response = self.responder.rate_limited(rule.spec.retry_after)
        else:
            response = self.responder.error(rule.spec.status, rule.spec.body)
            if rule.spec.retry_after is not None:
                response.headers["Retry-After"] = format_retry_after(rule.spec.retry_after)
        await response(scope, receive, send)

    async def _delayed(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the request, then execute it, even if the client is gone by then.

        The held request runs in its own task, shielded from the server cancelling the
        connection's task: a request that reached a real provider completes there whether or
        not its client is still waiting (the worst case for a client that crashed: the write
        lands after its retry may already have looked for it).
        """
        scope[_LATENCY_SCOPE_KEY] = _PendingLatency(seconds=(rule.spec.latency_ms or 0) / 1000)

        async def send_after_latency(message: Message) -> None:
            if message["type"] == "http.response.start":
                await apply_pending_latency(scope)
            try:
                await send(message)
            except OSError:  # the client left while the request was held: the write stands
                return

        rule.held += 1
        held = asyncio.ensure_future(self.app(scope, receive, send_after_latency))
        self._held.add(held)

        def released(done: asyncio.Future[None]) -> None:
            self._held.discard(done)
            rule.held -= 1

        held.add_done_callback(released)
        await asyncio.shield(held)

    async def _commit_then_hang(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        """Execute fully (state, ledger, idempotency record), then hold the answer back.

        The hang ends early when the client gives up (its read timeout fired), so an abandoned
        request does not pin a task for `hang_s`; its answer is then simply never sent, exactly
        what the client of a real provider experiences.
        """
        buffered: list[Message] = []

        async def buffer(message: Message) -> None:
            buffered.append(message)

        await self.app(scope, receive, buffer)
        try:
            await asyncio.wait_for(_wait_for_disconnect(receive), timeout=rule.spec.hang_s)
        except TimeoutError:
            pass
        else:
            return
        try:
            for message in buffered:
                await send(message)
        except OSError:  # the client left between the end of the hang and the answer
            return


class ResponseHeadersMiddleware:
    """Adds provider headers to every response that does not already carry them.

    `stamp` runs when the request arrives (so it may also leave values in the scope for the
    routes, such as the request id) and returns the headers to add to the response.
    """

    def __init__(self, app: ASGIApp, stamp: Callable[[Scope], list[tuple[str, str]]]) -> None:
        self.app = app
        self.stamp = stamp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.stamp(scope)

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in extra:
                    encoded = name.lower().encode("latin-1")
                    if encoded not in present:
                        headers.append((encoded, value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_stamped)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; ValueError (with a readable reason) otherwise."""
    raw = await request.body()
    try:
        value = json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def sandbox_routes(faults: FaultBook, ledger: Ledger, reset: Callable[[], None]) -> list[BaseRoute]:
    """The `/_sandbox/*` instrument endpoints, identical on every provider."""

    async def add_fault(request: Request) -> Response:
        try:
            spec = FaultSpec.model_validate(await read_json_object(request))
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            if isinstance(exc, ValidationError):
                detail: Any = exc.errors(include_url=False, include_context=False)
            else:
                detail = str(exc)
            return JSONResponse({"error": "invalid_fault_rule", "detail": detail}, status_code=400)
        return JSONResponse(faults.add(spec).to_json(), status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"rules": [rule.to_json() for rule in faults.rules()]})

    async def clear_faults(request: Request) -> Response:
        faults.clear()
        return Response(status_code=204)

    async def remove_fault(request: Request) -> Response:
        if faults.remove(str(request.path_params["rule_id"])):
            return Response(status_code=204)
        return JSONResponse({"error": "no_such_rule"}, status_code=404)

    async def list_effects(request: Request) -> Response:
        query = request.query_params
        effects = ledger.effects(key=query.get("key"), op=query.get("op"), obj=query.get("object"))
        return JSONResponse({"effects": [effect.to_json() for effect in effects]})

    async def clear_ledger(request: Request) -> Response:
        ledger.clear()
        return Response(status_code=204)

    async def reset_all(request: Request) -> Response:
        faults.reset()
        ledger.reset()
        reset()
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    table: list[tuple[str, _Endpoint, list[str]]] = [
        ("/_sandbox/faults", add_fault, ["POST"]),
        ("/_sandbox/faults", list_faults, ["GET"]),
        ("/_sandbox/faults", clear_faults, ["DELETE"]),
        ("/_sandbox/faults/{rule_id}", remove_fault, ["DELETE"]),
        ("/_sandbox/ledger", list_effects, ["GET"]),
        ("/_sandbox/ledger", clear_ledger, ["DELETE"]),
        ("/_sandbox/reset", reset_all, ["POST"]),
        ("/_sandbox/health", health, ["GET"]),
    ]
    return [Route(path, func, methods=methods) for path, func, methods in table]


def build_sandbox_app(
    *,
    routes: Sequence[BaseRoute],
    faults: FaultBook,
    ledger: Ledger,
    responder: FaultResponder,
    reset: Callable[[], None],
    stamp: Callable[[Scope], list[tuple[str, str]]] | None = None,
    exception_handlers: Mapping[Any, ExceptionHandler] | None = None,
) -> Starlette:
    """A Starlette app: instrument routes + provider routes, headers outermost, faults inside.

    `reset` re-creates the provider's own state and fixtures; faults and ledger are reset here.
    """
    middleware: list[Middleware] = []
    if stamp is not None:
        middleware.append(Middleware(ResponseHeadersMiddleware, stamp=stamp))
    middleware.append(Middleware(FaultMiddleware, faults=faults, responder=responder))
    return Starlette(
        routes=[*sandbox_routes(faults, ledger, reset), *routes],
        middleware=middleware,
        exception_handlers=exception_handlers,
    )
