"""The Salesforce sandbox's HTTP pipeline: version routing, credentials, faults, the ledger, and the
instrument routes (`/_sandbox/fields`, `/_sandbox/reset`), around the framework-free `api`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from pivot.providers.salesforce.sandbox.api import ApiRequest, ApiResponse, SalesforceApi
from pivot.providers.salesforce.sandbox.composite import CompositeExecutor
from pivot.providers.salesforce.sandbox.schema import Access, Schema, field_instrument_routes
from pivot.providers.salesforce.sandbox.store import Store
from pivot.providers.salesforce.sandbox.tooling import ToolingApi
from pivot.providers.sandbox_kit import FaultBook, Ledger, apply_pending_latency, build_sandbox_app
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes

API_PREFIX = "/services/data/"
DAILY_API_LIMIT = 5000
METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT")
READY_LINE = "sandboxes ready"
READY_TIMEOUT_S = 15.0
_VERSION = re.compile(r"^v(\d+)\.0$")
OLDEST_VERSION, NEWEST_VERSION = 31, 62
"""The versions this sandbox serves: Salesforce retired 21.0 to 30.0 in Summer '25; 62.0 is Winter '25."""
API_PERMISSION = "api"
"""The token-book scope standing for the user's "API Enabled" permission."""


def release_label(version: int) -> str:
    """Salesforce's release name of an API version: 20.0 was Winter '11, three releases a year."""
    steps = version - 20
    season = ("Winter", "Spring", "Summer")[steps % 3]
    return f"{season} '{11 + steps // 3:02d}"


def _errors(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


class SalesforceFaultResponder:
    """Salesforce's error arrays for injected errors; its daily-limit 403 for rate limits."""

    def error(self, status: int, body: dict[str, Any] | None) -> Response:
        if body is not None:
            return JSONResponse(body, status_code=status)
        if status >= 500:
            return _errors(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                           "ErrorId if you contact support: 1234567890-12345 (-1234567890)")
        return _errors(status, "INVALID_INPUT", f"request failed with status {status}")

    def rate_limited(self, retry_after: float | None) -> Response:
        """Salesforce never answers 429 and sends no Retry-After: the daily limit is a 403."""
        return _errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def _to_response(answer: ApiResponse) -> Response:
    if answer.status == 204:
        return Response(status_code=204, headers=answer.headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def _route_not_found(request: Request, exc: Exception) -> Response:
    return _errors(404, "NOT_FOUND", "The requested resource does not exist")


class SalesforceSandbox:
    """All state and endpoints of one Salesforce sandbox instance."""

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["salesforce"],)) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.schema = Schema()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.store = Store(self.ledger, self.schema)
        self.api = SalesforceApi(self.store)
        CompositeExecutor(self.api)
        self.api.tooling = ToolingApi(self.schema).handle
        self.api_usage = 0

    def reset(self) -> None:
        self.store.reset()
        self.schema.reset()
        self.tokens.clear()
        self.api_usage = 0

    def app(self) -> Starlette:
        instruments = [*token_routes(self.tokens), *field_instrument_routes(self.schema)]
        return build_sandbox_app(
            routes=[*instruments, Route("/services/data", self.versions, methods=["GET"]),
                    Route(API_PREFIX + "{rest:path}", self.endpoint, methods=list(METHODS))],
            faults=self.faults,
            ledger=self.ledger,
            responder=SalesforceFaultResponder(),
            reset=self.reset,
            stamp=self._limit_info,
            exception_handlers={404: _route_not_found, 405: _route_not_found},
        )

    def _limit_info(self, scope: Scope) -> list[tuple[str, str]]:
        """Sforce-Limit-Info on every API response (fault responses too), counting API calls for real
        (the unauthenticated versions list is not an API call)."""
        path = str(scope.get("path", ""))
        if path.startswith(API_PREFIX) and path != API_PREFIX:
            self.api_usage += 1
        return [("Sforce-Limit-Info", f"api-usage={self.api_usage}/{DAILY_API_LIMIT}")]

    async def versions(self, request: Request) -> Response:
        """`GET /services/data/`: every API version the org serves, oldest first (no token needed)."""
        return JSONResponse([{"label": release_label(v), "url": f"{API_PREFIX}v{v}.0", "version": f"{v}.0"}
                             for v in range(OLDEST_VERSION, NEWEST_VERSION + 1)])

    async def endpoint(self, request: Request) -> Response:
        if request.url.path == API_PREFIX and request.method == "GET":
            return await self.versions(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not self.tokens.known(token):
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.tokens.missing(token, [API_PERMISSION]):
            return _errors(403, "API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization.")
        # The raw path keeps percent-encoding, so an external id may even contain an encoded '/'.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        version, _, rest = raw.decode("latin-1").split("?", 1)[0][len(API_PREFIX):].partition("/")
        served = _VERSION.match(version)
        if served is None or not OLDEST_VERSION <= int(served.group(1)) <= NEWEST_VERSION:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        segments = tuple(unquote(part) for part in rest.rstrip("/").split("/")) if rest.strip("/") else ()
        body: Any = None
        if request.method in ("POST", "PATCH", "PUT"):
            raw_body = await request.body()
            if raw_body.strip():
                try:
                    body = json.loads(raw_body)
                except json.JSONDecodeError as exc:
                    return _errors(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc.msg} at [line:{exc.lineno}, "
                                   f"column:{exc.colno}]")
        await apply_pending_latency(request.scope)
        try:
            answer = self.api.handle(ApiRequest(request.method, version, segments, dict(request.query_params), body,
                                                access=Access.of(self.tokens, token)))
        finally:
            self.store.commit()
        return _to_response(answer)


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["salesforce"],)) -> Starlette:
    """A fresh, empty Salesforce sandbox with its own state, accepting the credentials in `credentials`
    (and those registered at `/_sandbox/tokens`)."""
    return SalesforceSandbox(credentials).app()
