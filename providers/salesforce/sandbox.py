"""A local Salesforce REST API (v60.0) in Salesforce's wire format, on the shared sandbox kit.

Serves `/services/data/vXX.X/…`: sObject rows (create, read with `?fields=`, PATCH, DELETE to a
Recycle Bin), upserts and reads by external id (201/200, 300 on several matches), sObject
Collections (create, update, upsert, read, delete, with allOrNone), `/composite` with references,
and the SOQL lookups Pivot sends. Every response carries `Sforce-Limit-Info`; the kit's
`rate_limit` fault answers like Salesforce: 403 REQUEST_LIMIT_EXCEEDED, no Retry-After. The
ledger records every applied create, update and delete with the record's `Pivot_Key__c` as its
idempotency key, and with how the write arrived (`via`, `allOrNone`).

    python -m providers.serve_sandboxes --salesforce 127.0.0.1:8104

prints "sandboxes ready" once it answers its health check, and exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from providers.salesforce.sandbox_api import ApiRequest, ApiResponse, SalesforceApi
from providers.salesforce.sandbox_composite import CompositeExecutor
from providers.salesforce.sandbox_store import Store
from providers.sandbox_kit import FaultBook, Ledger, apply_pending_latency, build_sandbox_app

API_PREFIX = "/services/data/"
DAILY_API_LIMIT = 5000
METHODS = ("GET", "POST", "PATCH", "DELETE", "PUT")
READY_LINE = "sandboxes ready"
READY_TIMEOUT_S = 15.0
_VERSION = re.compile(r"^v\d+\.\d+$")


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

    def __init__(self) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.store = Store(self.ledger)
        self.api = SalesforceApi(self.store)
        CompositeExecutor(self.api)
        self.api_usage = 0

    def reset(self) -> None:
        self.store.reset()
        self.api_usage = 0

    def app(self) -> Starlette:
        return build_sandbox_app(
            routes=[Route(API_PREFIX + "{rest:path}", self.endpoint, methods=list(METHODS))],
            faults=self.faults,
            ledger=self.ledger,
            responder=SalesforceFaultResponder(),
            reset=self.reset,
            stamp=self._limit_info,
            exception_handlers={404: _route_not_found, 405: _route_not_found},
        )

    def _limit_info(self, scope: Scope) -> list[tuple[str, str]]:
        """Sforce-Limit-Info on every API response (fault responses too), counting API calls for real."""
        if str(scope.get("path", "")).startswith(API_PREFIX):
            self.api_usage += 1
        return [("Sforce-Limit-Info", f"api-usage={self.api_usage}/{DAILY_API_LIMIT}")]

    async def endpoint(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        # The raw path keeps percent-encoding, so an external id may even contain an encoded '/'.
        raw = request.scope.get("raw_path") or request.url.path.encode()
        version, _, rest = raw.decode("latin-1").split("?", 1)[0][len(API_PREFIX):].partition("/")
        if not _VERSION.match(version):
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
            answer = self.api.handle(ApiRequest(request.method, version, segments, dict(request.query_params), body))
        finally:
            self.store.commit()
        return _to_response(answer)


def create_app() -> Starlette:
    """A fresh, empty Salesforce sandbox with its own state."""
    return SalesforceSandbox().app()
