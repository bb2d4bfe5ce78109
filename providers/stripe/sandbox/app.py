"""The Stripe sandbox app: authentication, the request pipeline and the route table.

Each request is authenticated (Bearer or Basic secret key; a key the sandbox was not configured
with, or none, is Stripe's 401), its key's permission for the endpoint checked (403 for a
restricted key without it; see `access`, driven by the kit's token book at `/_sandbox/tokens`),
its form body or query string parsed, and a POST carrying an Idempotency-Key goes through the
idempotency layer.
The resource modules (customers, invoices, invoice items, payment intents, refunds) hold the
endpoints; this module only wires them to paths.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from pivot.providers.sandbox_kit import FaultBook, Ledger, apply_pending_latency, build_sandbox_app
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.recorder import RecorderMiddleware, RequestRecorder
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes
from pivot.providers.stripe.sandbox.access import KeyAccess
from pivot.providers.stripe.sandbox.account import ACCOUNT_ID, get_account
from pivot.providers.stripe.sandbox.common import STRIPE_VERSION, Handler, Store, StripeCall, StripeState, new_id
from pivot.providers.stripe.sandbox.customers import Customers
from pivot.providers.stripe.sandbox.errors import StripeError, StripeFaultResponder
from pivot.providers.stripe.sandbox.forms import parse_form
from pivot.providers.stripe.sandbox.idempotency import REQUEST_ID_SCOPE_KEY, execute, idempotent
from pivot.providers.stripe.sandbox.invoice_items import InvoiceItems
from pivot.providers.stripe.sandbox.invoice_lifecycle import InvoiceLifecycle
from pivot.providers.stripe.sandbox.invoice_views import InvoiceViews
from pivot.providers.stripe.sandbox.invoices import Invoices
from pivot.providers.stripe.sandbox.payments import Payments
from pivot.providers.stripe.sandbox.refunds import Refunds


def _api_key(request: Request) -> str:
    """The key from Bearer or Basic auth (the key as the user name); 401 in Stripe's words when there is none."""
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credential.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at "
            "https://support.stripe.com/.",
            saved=False,
        )
    return key


class StripeSandbox:
    """All state and endpoints of one Stripe sandbox instance."""

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["stripe"],)) -> None:
        self.faults = FaultBook()
        self.store = Store(ledger=Ledger(), state=StripeState())
        self.recorder = RequestRecorder()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.access = KeyAccess(self.tokens, ACCOUNT_ID)
        self.customers = Customers(self.store)
        views = InvoiceViews(self.store)
        self.invoices = Invoices(self.store, self.customers, views)
        self.lifecycle = InvoiceLifecycle(self.store, views)
        self.items = InvoiceItems(self.store, self.customers, views)
        self.payments = Payments(self.store, self.customers)
        self.refunds = Refunds(self.store, self.payments)
        self.customers.seed()

    @property
    def ledger(self) -> Ledger:
        return self.store.ledger

    def reset(self) -> None:
        self.store.state = StripeState()
        self.recorder.clear()
        self.tokens.clear()
        self.customers.seed()

    def routes(self) -> list[tuple[str, str, Handler]]:
        customers, invoices, lifecycle = self.customers, self.invoices, self.lifecycle
        items, payments, refunds = self.items, self.payments, self.refunds
        return [
            ("GET", "/v1/account", get_account),
            ("POST", "/v1/customers", customers.create_customer),
            ("GET", "/v1/customers", customers.list_customers),
            ("GET", "/v1/customers/{id}", customers.get_customer),
            ("POST", "/v1/customers/{id}", customers.update_customer),
            ("DELETE", "/v1/customers/{id}", customers.delete_customer),
            ("POST", "/v1/invoices", invoices.create_invoice),
            ("GET", "/v1/invoices", invoices.list_invoices),
            ("GET", "/v1/invoices/{id}", invoices.get_invoice),
            ("POST", "/v1/invoices/{id}", invoices.update_invoice),
            ("DELETE", "/v1/invoices/{id}", invoices.delete_invoice),
            ("GET", "/v1/invoices/{id}/lines", invoices.list_invoice_lines),
            ("POST", "/v1/invoices/{id}/finalize", lifecycle.finalize_invoice),
            ("POST", "/v1/invoices/{id}/void", lifecycle.void_invoice),
            ("POST", "/v1/invoices/{id}/pay", lifecycle.pay_invoice),
            ("POST", "/v1/invoices/{id}/send", lifecycle.send_invoice),
            ("POST", "/v1/invoices/{id}/mark_uncollectible", lifecycle.mark_uncollectible),
            ("POST", "/v1/invoiceitems", items.create_invoice_item),
            ("GET", "/v1/invoiceitems/{id}", items.get_invoice_item),
            ("POST", "/v1/invoiceitems/{id}", items.update_invoice_item),
            ("DELETE", "/v1/invoiceitems/{id}", items.delete_invoice_item),
            ("POST", "/v1/payment_intents", payments.create),
            ("GET", "/v1/payment_intents", payments.list_intents),
            ("GET", "/v1/payment_intents/{id}", payments.retrieve),
            ("POST", "/v1/payment_intents/{id}", payments.update),
            ("POST", "/v1/payment_intents/{id}/confirm", payments.confirm),
            ("POST", "/v1/payment_intents/{id}/cancel", payments.cancel),
            ("POST", "/v1/payment_intents/{id}/capture", payments.capture),
            ("GET", "/v1/charges/{id}", payments.retrieve_charge),
            ("POST", "/v1/refunds", refunds.create),
            ("GET", "/v1/refunds", refunds.list_refunds),
            ("GET", "/v1/refunds/{id}", refunds.retrieve),
            ("POST", "/v1/refunds/{id}", refunds.update),
        ]

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route(path, self._endpoint(handler), methods=[method]) for method, path, handler in self.routes()
        ]
        app = build_sandbox_app(
            routes=[*self.recorder.routes(), *token_routes(self.tokens), *routes],
            faults=self.faults,
            ledger=self.store.ledger,
            responder=StripeFaultResponder(),
            reset=self.reset,
            stamp=_stamp_headers,
            exception_handlers={404: _unrecognized_url, 405: _unrecognized_url},
        )
        app.add_middleware(RecorderMiddleware, recorder=self.recorder)
        return app

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                api_key = _api_key(request)
                self.access.check(api_key, request.method, request.url.path)
                if request.method == "POST":
                    params = parse_form((await request.body()).decode("utf-8", errors="replace"))
                else:
                    params = parse_form(request.url.query)
            except StripeError as error:
                return error.response()
            header_key = request.headers.get("idempotency-key")
            call = StripeCall(
                method=request.method,
                path=request.url.path,
                path_params={name: str(value) for name, value in request.path_params.items()},
                params=params,
                idempotency_key=header_key or None,
            )
            if request.method == "POST" and call.idempotency_key is not None:
                return await idempotent(self.store, request.scope, api_key, call, handler)
            await apply_pending_latency(request.scope)
            status, body, _ = execute(handler, call)
            return JSONResponse(body, status_code=status)

        return endpoint


def _stamp_headers(scope: Scope) -> list[tuple[str, str]]:
    """Every Stripe response carries a Request-Id; the routes read it back from the scope."""
    request_id = new_id("req_", 14)
    scope[REQUEST_ID_SCOPE_KEY] = request_id
    version = STRIPE_VERSION
    for name, value in scope.get("headers", []):
        if name == b"stripe-version":
            version = value.decode("latin-1")
    return [("Request-Id", request_id), ("Stripe-Version", version), ("Cache-Control", "no-cache, no-store")]


async def _unrecognized_url(request: Request, exc: Exception) -> Response:
    """Stripe answers unknown paths and wrong methods alike: 404 "Unrecognized request URL"."""
    detail = (
        f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/."
    )
    return JSONResponse({"error": {"type": "invalid_request_error", "message": detail}}, status_code=404)


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["stripe"],)) -> Starlette:
    """A fresh Stripe sandbox with its own state, seeded with customer cus_9s6XKzkNRiz8i3, that
    accepts the API keys in `credentials` (and those registered at `/_sandbox/tokens`)."""
    return StripeSandbox(credentials).app()
