"""The Resend sandbox app: authentication, the request pipeline and the route table.

Every request is authenticated (`Authorization: Bearer re_…`: none is Resend's 401
`missing_api_key`, one the sandbox was not configured with its 403 `invalid_api_key`; a key
registered at `/_sandbox/tokens` with only the `sending` scope is a sending-only key, refused on
every other endpoint with 401 `restricted_api_key`). `POST /emails` with an `Idempotency-Key` goes
through the 24-hour idempotency records (`store`). Every answer carries Resend's rate-limit headers.
"""

from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from pivot.providers.resend.sandbox.errors import ResendError, ResendFaultResponder, rate_limit_headers
from pivot.providers.resend.sandbox.store import JsonDict, Saved, Store
from pivot.providers.sandbox_kit import FaultBook, Ledger, apply_pending_latency, build_sandbox_app, read_json_object
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.recorder import RecorderMiddleware, RequestRecorder
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes

FULL_ACCESS = "full_access"
"""The scope every endpoint but `POST /emails` needs; a key registered at `/_sandbox/tokens` without it
is a sending-only key (Resend's "Sending access" permission)."""
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Endpoint = Callable[[Request, str], Awaitable[Response]]


class ResendSandbox:
    """All state and endpoints of one Resend sandbox instance."""

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["resend"],)) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.store = Store(self.ledger)
        self.recorder = RequestRecorder()
        self.tokens = TokenBook(accepted=frozenset(credentials))

    def reset(self) -> None:
        self.store.reset()
        self.recorder.clear()
        self.tokens.clear()

    # -- auth ------------------------------------------------------------------------------------
    def _authenticate(self, request: Request, *, sending: bool) -> str:
        scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
        key = credential.strip() if scheme.lower() == "bearer" else ""
        if not key or key == "None":  # the SDK sends "Bearer None" when no key is set
            raise ResendError(401, "missing_api_key", "Missing API key in the authorization header")
        if not self.tokens.known(key):
            raise ResendError(403, "invalid_api_key", "API key is invalid")
        if not sending and self.tokens.missing(key, [FULL_ACCESS]):
            raise ResendError(401, "restricted_api_key", "This API key is restricted to only send emails")
        return key

    # -- endpoints -------------------------------------------------------------------------------
    async def send_email(self, request: Request, api_key: str) -> Response:
        try:
            payload = await read_json_object(request)
        except ValueError as bad:
            raise ResendError(422, "validation_error", f"Invalid request body: {bad}") from None
        key = request.headers.get("idempotency-key")
        if key is None:
            self.store.validate(payload)
            await apply_pending_latency(request.scope)
            return JSONResponse({"id": self.store.send(payload, None)})
        self.store.check_key(key)
        slot, fingerprint = (api_key, key), self.store.fingerprint(payload)
        replayed = self.store.replay(slot, fingerprint)
        if replayed is not None:
            return JSONResponse({"id": replayed})
        self.store.validate(payload)
        state = self.store.state  # a reset while this request is in flight must not resurrect its key
        state.in_flight.add(slot)
        try:
            await apply_pending_latency(request.scope)
            email_id = self.store.send(payload, key)
            state.saved[slot] = Saved(fingerprint, email_id, self.store.clock())
        finally:
            state.in_flight.discard(slot)
        return JSONResponse({"id": email_id})

    async def get_email(self, request: Request, api_key: str) -> Response:
        return JSONResponse(self.store.get(str(request.path_params["email_id"])))

    async def list_emails(self, request: Request, api_key: str) -> Response:
        query = request.query_params
        raw = query.get("limit", str(DEFAULT_LIMIT))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ResendError(422, "validation_error", f"The `limit` must be between 1 and {MAX_LIMIT}.")
        if query.get("after") and query.get("before"):
            raise ResendError(422, "validation_error", "Only one of `after` or `before` can be used at a time.")
        return JSONResponse(self.store.page(int(raw), query.get("after"), query.get("before")))

    async def list_domains(self, request: Request, api_key: str) -> Response:
        data: list[JsonDict] = [dict(domain) for domain in self.store.state.domains]
        return JSONResponse({"object": "list", "has_more": False, "data": data})

    async def expire_keys(self, request: Request) -> Response:
        return JSONResponse({"expired": self.store.expire_keys()})

    # -- pipeline --------------------------------------------------------------------------------
    def _endpoint(self, handler: Endpoint, *, sending: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                api_key = self._authenticate(request, sending=sending)
                return await handler(request, api_key)
            except ResendError as error:
                return error.response()
        return endpoint

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/emails", self._endpoint(self.send_email, sending=True), methods=["POST"]),
            Route("/emails", self._endpoint(self.list_emails), methods=["GET"]),
            Route("/emails/{email_id}", self._endpoint(self.get_email), methods=["GET"]),
            Route("/domains", self._endpoint(self.list_domains), methods=["GET"]),
            Route("/_sandbox/idempotency/expire", self.expire_keys, methods=["POST"]),
        ]
        app = build_sandbox_app(
            routes=[*self.recorder.routes(), *token_routes(self.tokens), *routes],
            faults=self.faults, ledger=self.ledger, responder=ResendFaultResponder(), reset=self.reset,
            stamp=_stamp_headers, exception_handlers={404: _not_found, 405: _not_allowed},
        )
        app.add_middleware(RecorderMiddleware, recorder=self.recorder)
        return app


def _stamp_headers(scope: Scope) -> list[tuple[str, str]]:
    """Resend sends its rate-limit headers on every answer."""
    return list(rate_limit_headers(1).items())


async def _not_found(request: Request, exc: Exception) -> Response:
    return ResendError(404, "not_found", "The requested endpoint does not exist.").response()


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return ResendError(405, "method_not_allowed", "Method is not allowed for the requested path.").response()


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["resend"],)) -> Starlette:
    """A fresh Resend sandbox with its own state (one verified domain, example.com), accepting the API
    keys in `credentials` (and those registered at `/_sandbox/tokens`)."""
    return ResendSandbox(credentials).app()
