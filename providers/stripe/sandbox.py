"""A local Stripe: customers, invoices and invoice items, in Stripe's wire format (API 2023-08-16).

It exists so that the Stripe client and the saga engine can be exercised offline against the
behaviour that matters for exactly-once writes: form bodies with bracket nesting, Stripe's error
bodies, the invoice state machine (draft -> open -> paid | void), and the idempotency layer:
saved responses replayed with `Idempotent-Replayed: true`, the 400 on a key reused with other
parameters or on another endpoint, and the 409 while a request with the same key is in flight.

State lives in one `StripeSandbox` per `create_app()` call; nothing is module-level.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from providers.sandbox_kit import (
    FaultBook,
    Ledger,
    apply_pending_latency,
    build_sandbox_app,
    format_retry_after,
)

STRIPE_VERSION = "2023-08-16"
SEED_CUSTOMER_ID = "cus_9s6XKzkNRiz8i3"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_METADATA_KEYS = 50
_REQUEST_ID_SCOPE_KEY = "pivot.stripe.request_id"
_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_CURRENCY = re.compile(r"^[a-z]{3}$")

log = logging.getLogger("pivot.sandbox.stripe")

JsonDict = dict[str, Any]


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- errors


class StripeError(Exception):
    """An error in Stripe's shape. `saved` says whether the idempotency layer stores it.

    Stripe saves the result once endpoint execution has begun (business errors, 500s) but not
    requests that fail parameter validation, so retrying those with the same key is safe.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.saved = saved

    def body(self) -> JsonDict:
        error: JsonDict = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Stripe"'} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter-validation error: 400, never saved under an idempotency key."""
    return StripeError(400, message, code=code, param=param, saved=False)


def _missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# --------------------------------------------------------------------------- form bodies


def _split_key(key: str) -> list[str]:
    """`lines[0][amount]` -> ['lines', '0', 'amount']; `expand[]` -> ['expand', '']."""
    head, bracket, rest = key.partition("[")
    if not bracket or not rest.endswith("]"):
        return [key]
    parts = [head]
    for piece in ("[" + rest).split("]")[:-1]:
        if not piece.startswith("["):
            return [key]
        parts.append(piece[1:])
    return parts


def _assign(node: JsonDict, parts: list[str], value: str, full_key: str) -> None:
    name, rest = parts[0], parts[1:]
    if not rest:
        if name in node and isinstance(node[name], (dict, list)):
            raise _invalid(f"Invalid hash: {full_key}", param=full_key)
        node[name] = value
        return
    if rest == [""]:
        current = node.setdefault(name, [])
        if not isinstance(current, list):
            raise _invalid(f"Invalid array: {full_key}", param=full_key)
        current.append(value)
        return
    child = node.setdefault(name, {})
    if isinstance(child, list):  # `a[][b]=x`: each bracket-less push starts a new hash
        child.append({})
        target = child[-1]
        _assign(target, rest[1:] if rest[0] == "" else rest, value, full_key)
        return
    if not isinstance(child, dict):
        raise _invalid(f"Invalid hash: {full_key}", param=full_key)
    _assign(child, rest, value, full_key)


def _listify(value: Any) -> Any:
    """Hashes whose keys are all indices (`lines[0]`, `lines[1]`) are arrays to Stripe."""
    if isinstance(value, list):
        return [_listify(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def parse_form(raw: str) -> JsonDict:
    """Decode an `application/x-www-form-urlencoded` body the way Stripe reads it."""
    root: JsonDict = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        _assign(root, _split_key(key), value, key)
    result = _listify(root)
    return result if isinstance(result, dict) else {}


class Params:
    """Typed access to one request's parameters, with Stripe's validation messages."""

    def __init__(self, data: JsonDict, allowed: frozenset[str]) -> None:
        for name in data:
            if name not in allowed:
                raise _invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")
        self.data = data

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        """A string param; None when absent. An empty string means "unset" to Stripe."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
            return None
        if not isinstance(value, str):
            raise _invalid(f"Invalid string: {value!r}", param=name)
        if len(value) > max_length:
            raise _invalid(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters", param=name
            )
        if required and value == "":
            raise _invalid(
                f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
                f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from "
                "your request or supply a non-empty value.",
                param=name,
                code="parameter_invalid_empty",
            )
        return value

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = self.data.get(name)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
            raise _invalid(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer")
        value = int(raw)
        if minimum is not None and value < minimum:
            raise _invalid(f"This value must be greater than or equal to {minimum}.", param=name)
        if maximum is not None and value > maximum:
            raise _invalid(f"This value must be less than or equal to {maximum}.", param=name)
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.data.get(name)
        if raw is None or raw == "":
            return None
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise _invalid(f"Invalid boolean: {raw}", param=name)

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        if value not in choices:
            listed = ", ".join(f"`{choice}`" for choice in choices)
            raise _invalid(f"Invalid {name}: must be one of {listed}", param=name)
        return value

    def currency(self, name: str = "currency") -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        value = value.lower()
        if not _CURRENCY.match(value):
            raise _invalid(
                f"Invalid currency: {value}. Must be a three-letter ISO currency code, in lowercase.",
                param=name,
            )
        return value

    def metadata(self) -> JsonDict | None:
        """`metadata[k]=v` pairs; `metadata=` (empty) means "clear all", returned as {}."""
        raw = self.data.get("metadata")
        if raw is None:
            return None
        if raw == "":
            return {}
        if not isinstance(raw, dict):
            raise _invalid("Invalid hash", param="metadata")
        if len(raw) > MAX_METADATA_KEYS:
            raise _invalid(f"Invalid metadata: metadata can have at most {MAX_METADATA_KEYS} keys.",
                           param="metadata")
        for key, value in raw.items():
            if not isinstance(value, str):
                raise _invalid(f"Invalid metadata[{key}]: must be a string", param=f"metadata[{key}]")
            if len(key) > 40:
                raise _invalid("Invalid metadata: keys can be at most 40 characters.",
                               param=f"metadata[{key}]")
            if len(value) > 500:
                raise _invalid("Invalid metadata: values can be at most 500 characters.",
                               param=f"metadata[{key}]")
        return dict(raw)

    def expand(self) -> list[str]:
        raw = self.data.get("expand")
        if raw is None or raw == "":
            return []
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise _invalid("Invalid array", param="expand")
        return list(raw)


def _merge_metadata(current: JsonDict, update: JsonDict | None, *, clear_all: bool) -> JsonDict:
    """Stripe's update semantics: keys merge, an empty value deletes a key, `metadata=` clears."""
    if update is None:
        return current
    if clear_all:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- allowed params (spec3)

_EXPAND = frozenset({"expand"})
CUSTOMER_CREATE = frozenset({
    "address", "balance", "cash_balance", "coupon", "description", "email", "expand", "invoice_prefix",
    "invoice_settings", "metadata", "name", "next_invoice_sequence", "payment_method", "phone",
    "preferred_locales", "promotion_code", "shipping", "source", "tax", "tax_exempt", "tax_id_data",
    "test_clock",
})
CUSTOMER_UPDATE = frozenset({
    "address", "balance", "bank_account", "card", "cash_balance", "coupon", "default_alipay_account",
    "default_bank_account", "default_card", "default_source", "description", "email", "expand",
    "invoice_prefix", "invoice_settings", "metadata", "name", "next_invoice_sequence", "phone",
    "preferred_locales", "promotion_code", "shipping", "source", "tax", "tax_exempt",
})
INVOICE_CREATE = frozenset({
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax", "collection_method",
    "currency", "custom_fields", "customer", "days_until_due", "default_payment_method", "default_source",
    "default_tax_rates", "description", "discounts", "due_date", "effective_at", "expand", "footer",
    "from_invoice", "metadata", "on_behalf_of", "payment_settings", "pending_invoice_items_behavior",
    "rendering_options", "shipping_cost", "shipping_details", "statement_descriptor", "subscription",
    "transfer_data",
})
INVOICE_UPDATE = frozenset({
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax", "collection_method",
    "custom_fields", "days_until_due", "default_payment_method", "default_source", "default_tax_rates",
    "description", "discounts", "due_date", "effective_at", "expand", "footer", "metadata", "on_behalf_of",
    "payment_settings", "rendering_options", "shipping_cost", "shipping_details", "statement_descriptor",
    "transfer_data",
})
INVOICE_LIST = frozenset({
    "collection_method", "created", "customer", "due_date", "ending_before", "expand", "limit",
    "starting_after", "status", "subscription",
})
INVOICE_LINES_LIST = frozenset({"ending_before", "expand", "limit", "starting_after"})
INVOICE_FINALIZE = frozenset({"auto_advance", "expand"})
INVOICE_PAY = frozenset({"expand", "forgive", "mandate", "off_session", "paid_out_of_band", "payment_method",
                         "source"})
INVOICEITEM_CREATE = frozenset({
    "amount", "currency", "customer", "description", "discountable", "discounts", "expand", "invoice",
    "metadata", "period", "price", "price_data", "quantity", "subscription", "tax_behavior", "tax_code",
    "tax_rates", "unit_amount", "unit_amount_decimal",
})
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


# --------------------------------------------------------------------------- state


@dataclass
class SavedResponse:
    """What Stripe's idempotency layer keeps for one key."""

    method: str
    path: str
    params: JsonDict
    status: int
    body: JsonDict
    request_id: str


@dataclass
class StripeState:
    customers: dict[str, JsonDict] = field(default_factory=dict)
    deleted_customers: set[str] = field(default_factory=set)
    invoices: dict[str, JsonDict] = field(default_factory=dict)
    invoice_seq: dict[str, int] = field(default_factory=dict)
    items: dict[str, JsonDict] = field(default_factory=dict)
    line_ids: dict[str, str] = field(default_factory=dict)
    saved: dict[tuple[str, str], SavedResponse] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    next_invoice_seq: int = 1


@dataclass(frozen=True)
class StripeCall:
    """One authenticated request, as the endpoint handlers see it."""

    method: str
    path: str
    path_params: dict[str, str]
    params: JsonDict
    idempotency_key: str | None


Handler = Callable[[StripeCall], tuple[int, JsonDict]]


# --------------------------------------------------------------------------- responses for faults


class StripeFaultResponder:
    """Stripe's own bodies for injected errors and rate limits."""

    def error(self, status: int, body: JsonDict | None) -> Response:
        return JSONResponse(body if body is not None else _default_error(status).body(), status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        error = StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
        headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
        return JSONResponse(error.body(), status_code=429, headers=headers)


def _default_error(status: int) -> StripeError:
    if status >= 500:
        return StripeError(
            status,
            "Sorry, something went wrong. We've already been notified of the problem, but if you need any "
            "help, you can reach us at https://support.stripe.com/contact.",
            type_="api_error",
        )
    if status == 402:
        error = StripeError(402, "Your card was declined.", type_="card_error", code="card_declined")
        return error
    if status == 401:
        return StripeError(401, "Invalid API Key provided: sk_****")
    if status == 403:
        return StripeError(403, "The provided key does not have the required permissions for this endpoint.")
    if status == 404:
        return StripeError(404, "No such object", code="resource_missing", param="id")
    if status == 409:
        return StripeError(
            409,
            "This object cannot be accessed right now because another API request or Stripe process is "
            "currently accessing it. If you see this error intermittently, retry the request.",
            code="lock_timeout",
        )
    if status == 429:
        return StripeError(429, "Request rate limit exceeded.", code="rate_limit")
    return StripeError(status, "Invalid request.")


# --------------------------------------------------------------------------- the sandbox


def _api_key(request: Request) -> str:
    """The secret key from Bearer or Basic auth; 401 in Stripe's words otherwise."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at "
            "https://support.stripe.com/.",
            saved=False,
        )
    scheme, _, credential = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credential.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key.startswith(("sk_", "rk_")) or len(key) < 8:
        shown = key[:8] + "*" * 4 if key else "(empty)"
        raise StripeError(401, f"Invalid API Key provided: {shown}", saved=False)
    return key


class StripeSandbox:
    """All state and endpoints of one Stripe sandbox instance."""

    def __init__(self) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.state = StripeState()
        self._seed()

    # ----------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        self.state = StripeState()
        self._seed()

    def _seed(self) -> None:
        self.state.customers[SEED_CUSTOMER_ID] = self._customer_object(
            SEED_CUSTOMER_ID, email="ada@example.com", name="Ada Lovelace", invoice_prefix="9S6XKZKN"
        )

    def app(self) -> Starlette:
        table: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/customers", self.create_customer),
            ("GET", "/v1/customers/{id}", self.get_customer),
            ("POST", "/v1/customers/{id}", self.update_customer),
            ("DELETE", "/v1/customers/{id}", self.delete_customer),
            ("POST", "/v1/invoices", self.create_invoice),
            ("GET", "/v1/invoices", self.list_invoices),
            ("GET", "/v1/invoices/{id}", self.get_invoice),
            ("POST", "/v1/invoices/{id}", self.update_invoice),
            ("DELETE", "/v1/invoices/{id}", self.delete_invoice),
            ("GET", "/v1/invoices/{id}/lines", self.list_invoice_lines),
            ("POST", "/v1/invoices/{id}/finalize", self.finalize_invoice),
            ("POST", "/v1/invoices/{id}/void", self.void_invoice),
            ("POST", "/v1/invoices/{id}/pay", self.pay_invoice),
            ("POST", "/v1/invoices/{id}/mark_uncollectible", self.mark_uncollectible),
            ("POST", "/v1/invoiceitems", self.create_invoice_item),
            ("GET", "/v1/invoiceitems/{id}", self.get_invoice_item),
            ("DELETE", "/v1/invoiceitems/{id}", self.delete_invoice_item),
        ]
        routes: list[BaseRoute] = [
            Route(path, self._endpoint(handler), methods=[method]) for method, path, handler in table
        ]
        return build_sandbox_app(
            routes=routes,
            faults=self.faults,
            ledger=self.ledger,
            responder=StripeFaultResponder(),
            reset=self.reset,
            stamp=_stamp_headers,
            exception_handlers={404: _unrecognized_url, 405: _unrecognized_url},
        )

    # ----------------------------------------------------------------- request pipeline

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                api_key = _api_key(request)
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
                return await self._idempotent(request.scope, api_key, call, handler)
            await apply_pending_latency(request.scope)
            status, body, _ = self._execute(handler, call)
            return JSONResponse(body, status_code=status)

        return endpoint

    def _execute(self, handler: Handler, call: StripeCall) -> tuple[int, JsonDict, bool]:
        """Run a handler; returns (status, body, whether the idempotency layer saves it)."""
        try:
            status, body = handler(call)
        except StripeError as error:
            return error.status, error.body(), error.saved
        except Exception:  # a sandbox bug must look like Stripe's 500, which Stripe also saves
            log.exception("stripe sandbox handler crashed on %s %s", call.method, call.path)
            return 500, _default_error(500).body(), True
        return status, body, True

    async def _idempotent(self, scope: Scope, api_key: str, call: StripeCall, handler: Handler) -> Response:
        """Stripe's idempotency layer, keyed per API key (Stripe: per account)."""
        key = call.idempotency_key or ""
        headers = {"Idempotency-Key": key}
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            error = _invalid(
                f"Invalid Idempotency-Key: keys can be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters long "
                f"(yours has {len(key)}).",
            )
            return error.response()
        slot = (api_key, key)
        if slot in self.state.in_flight:
            conflict = StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key (that probably "
                f"means you submitted twice, and the other request is still going through): {key}. "
                "Please try again later.",
                type_="idempotency_error",
                code="idempotency_key_in_use",
            )
            return JSONResponse(conflict.body(), status_code=409, headers=headers)
        saved = self.state.saved.get(slot)
        if saved is not None:
            if saved.path != call.path or saved.method != call.method:
                mismatch = StripeError(
                    400,
                    "Keys for idempotent requests can only be used for the same endpoint they were first "
                    f"used for ('{call.path}' vs '{saved.path}'). Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type_="idempotency_error",
                )
                return JSONResponse(mismatch.body(), status_code=400, headers=headers)
            if saved.params != call.params:
                mismatch = StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different "
                    "request.",
                    type_="idempotency_error",
                )
                return JSONResponse(mismatch.body(), status_code=400, headers=headers)
            replay_headers = {**headers, "Idempotent-Replayed": "true", "Original-Request": saved.request_id}
            return JSONResponse(saved.body, status_code=saved.status, headers=replay_headers)
        state = self.state  # a reset while this request is in flight must not resurrect its key
        state.in_flight.add(slot)
        try:
            await apply_pending_latency(scope)
            status, body, persist = self._execute(handler, call)
            request_id = str(scope.get(_REQUEST_ID_SCOPE_KEY, ""))
            if persist:
                state.saved[slot] = SavedResponse(
                    method=call.method, path=call.path, params=call.params, status=status, body=body,
                    request_id=request_id,
                )
        finally:
            state.in_flight.discard(slot)
        return JSONResponse(body, status_code=status, headers={**headers, "Original-Request": request_id})

    # ----------------------------------------------------------------- customers

    def _customer_object(
        self,
        customer_id: str,
        *,
        email: str | None,
        name: str | None,
        invoice_prefix: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        metadata: JsonDict | None = None,
        next_invoice_sequence: int = 1,
    ) -> JsonDict:
        return {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": _now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": description,
            "discount": None,
            "email": email,
            "invoice_prefix": invoice_prefix or "".join(secrets.choice(_UPPER_ALNUM) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(metadata or {}),
            "name": name,
            "next_invoice_sequence": next_invoice_sequence,
            "phone": phone,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def _live_customer(self, customer_id: str, *, param: str = "id", status: int = 404) -> JsonDict:
        customer = self.state.customers.get(customer_id)
        if customer is None or customer_id in self.state.deleted_customers:
            raise _missing("customer", customer_id, param=param, status=status)
        return customer

    def create_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, CUSTOMER_CREATE)
        prefix = params.text("invoice_prefix")
        if prefix and not re.fullmatch(r"[A-Z0-9]{3,12}", prefix):
            raise _invalid("Invalid invoice_prefix: must be 3-12 uppercase letters or numbers",
                           param="invoice_prefix")
        metadata = params.metadata()
        customer_id = _new_id("cus_", 14)
        customer = self._customer_object(
            customer_id,
            email=params.text("email", max_length=512) or None,
            name=params.text("name", max_length=256) or None,
            description=params.text("description") or None,
            phone=params.text("phone", max_length=20) or None,
            invoice_prefix=prefix or None,
            metadata={k: v for k, v in (metadata or {}).items() if v != ""},
            next_invoice_sequence=params.integer("next_invoice_sequence", minimum=1) or 1,
        )
        self.state.customers[customer_id] = customer
        self.ledger.record("create", "customer", customer_id, call.idempotency_key,
                           {"email": customer["email"]})
        return 200, customer

    def get_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, _EXPAND)
        customer_id = call.path_params["id"]
        if customer_id in self.state.deleted_customers:
            return 200, {"id": customer_id, "object": "customer", "deleted": True}
        return 200, self._live_customer(customer_id)

    def update_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, CUSTOMER_UPDATE)
        metadata = params.metadata()
        updates = {
            name: (params.text(name) or None) for name in ("email", "name", "description", "phone")
            if params.has(name)
        }
        customer = self._live_customer(call.path_params["id"])
        customer.update(updates)
        customer["metadata"] = _merge_metadata(customer["metadata"], metadata,
                                               clear_all=call.params.get("metadata") == "")
        self.ledger.record("update", "customer", customer["id"], call.idempotency_key,
                           {"fields": sorted([*updates, *(["metadata"] if metadata is not None else [])])})
        return 200, customer

    def delete_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        customer = self._live_customer(call.path_params["id"])
        self.state.deleted_customers.add(customer["id"])
        self.ledger.record("delete", "customer", customer["id"], call.idempotency_key)
        return 200, {"id": customer["id"], "object": "customer", "deleted": True}

    # ----------------------------------------------------------------- invoices: rendering

    def _invoice(self, invoice_id: str, *, param: str = "id", status: int = 404) -> JsonDict:
        invoice = self.state.invoices.get(invoice_id)
        if invoice is None:
            raise _missing("invoice", invoice_id, param=param, status=status)
        return invoice

    def _invoice_items_of(self, invoice_id: str) -> list[JsonDict]:
        """Attached items in the order they were added (dicts keep insertion order)."""
        return [item for item in self.state.items.values() if item["invoice"] == invoice_id]

    def _line(self, item: JsonDict) -> JsonDict:
        line_id = self.state.line_ids.setdefault(item["id"], _new_id("il_"))
        return {
            "id": line_id,
            "object": "line_item",
            "amount": item["amount"],
            "amount_excluding_tax": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": item["discountable"],
            "discounts": [],
            "invoice_item": item["id"],
            "livemode": False,
            "metadata": dict(item["metadata"]),
            "period": dict(item["period"]),
            "price": None,
            "proration": False,
            "proration_details": {"credited_items": None},
            "quantity": item["quantity"],
            "subscription": None,
            "tax_amounts": [],
            "tax_rates": [],
            "type": "invoiceitem",
            "unit_amount_excluding_tax": None if item["unit_amount"] is None else str(item["unit_amount"]),
        }

    def _render_invoice(self, invoice: JsonDict, expand: list[str] | None = None) -> JsonDict:
        """The public invoice: stored fields plus lines and totals derived from attached items."""
        lines = [self._line(item) for item in self._invoice_items_of(invoice["id"])]
        subtotal = sum(int(line["amount"]) for line in lines)
        body = {key: value for key, value in invoice.items() if not key.startswith("_")}
        amount_due = subtotal
        settled = invoice["status"] in ("paid", "void")
        body.update({
            "amount_due": amount_due,
            "amount_remaining": 0 if settled else amount_due - invoice["amount_paid"],
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "total": subtotal,
            "total_excluding_tax": subtotal,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice['id']}/lines",
            },
        })
        if expand and "customer" in expand:
            customer_id = invoice["customer"]
            body["customer"] = (
                {"id": customer_id, "object": "customer", "deleted": True}
                if customer_id in self.state.deleted_customers
                else self.state.customers.get(customer_id, customer_id)
            )
        return body

    # ----------------------------------------------------------------- invoices: endpoints

    def create_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_CREATE)
        customer_id = params.text("customer", required=True) or ""
        collection_method = params.choice("collection_method", ("charge_automatically", "send_invoice"))
        collection_method = collection_method or "charge_automatically"
        days_until_due = params.integer("days_until_due", minimum=0, maximum=730)
        due_date = params.integer("due_date", minimum=0)
        if collection_method == "send_invoice" and days_until_due is None and due_date is None:
            raise _invalid(
                "Missing required param: days_until_due. Invoices with `collection_method=send_invoice` need "
                "either `days_until_due` or `due_date`.",
                param="days_until_due",
                code="parameter_missing",
            )
        has_due = days_until_due is not None or due_date is not None
        if collection_method == "charge_automatically" and has_due:
            param = "days_until_due" if days_until_due is not None else "due_date"
            raise _invalid(
                f"You can only set `{param}` if `collection_method` is `send_invoice`.", param=param
            )
        behavior = params.choice(
            "pending_invoice_items_behavior", ("exclude", "include", "include_and_require")
        )
        auto_advance = params.boolean("auto_advance")
        currency = params.currency()
        metadata = params.metadata()
        expand = params.expand()
        description = params.text("description") or None
        footer = params.text("footer") or None
        statement_descriptor = params.text("statement_descriptor", max_length=22) or None

        # Execution begins: from here on, errors are business errors and are saved.
        customer = self._live_customer(customer_id, param="customer", status=400)
        now = _now()
        invoice_id = _new_id("in_")
        currency = currency or customer["currency"] or "usd"
        invoice: JsonDict = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Pivot Sandbox",
            "account_tax_ids": None,
            "amount_paid": 0,
            "amount_shipping": 0,
            "application": None,
            "application_fee_amount": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": bool(auto_advance),
            "automatic_tax": {"enabled": False, "status": None},
            "billing_reason": "manual",
            "charge": None,
            "collection_method": collection_method,
            "created": now,
            "currency": currency,
            "custom_fields": None,
            "customer": customer_id,
            "customer_address": customer["address"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "customer_phone": customer["phone"],
            "customer_shipping": None,
            "customer_tax_exempt": customer["tax_exempt"],
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": description,
            "discount": None,
            "discounts": [],
            "due_date": due_date,
            "_days_until_due": days_until_due,
            "effective_at": None,
            "ending_balance": None,
            "footer": footer,
            "from_invoice": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "last_finalization_error": None,
            "latest_revision": None,
            "livemode": False,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "next_payment_attempt": None,
            "number": None,
            "on_behalf_of": None,
            "paid": False,
            "paid_out_of_band": False,
            "payment_intent": None,
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": now,
            "period_start": now,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "quote": None,
            "receipt_number": None,
            "rendering_options": None,
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": 0,
            "statement_descriptor": statement_descriptor,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subscription": None,
            "subscription_details": {"metadata": None},
            "subtotal": 0,
            "subtotal_excluding_tax": 0,
            "tax": None,
            "test_clock": None,
            "total": 0,
            "total_discount_amounts": [],
            "total_excluding_tax": 0,
            "total_tax_amounts": [],
            "transfer_data": None,
            "webhooks_delivered_at": now,
        }
        pending = [
            item for item in self.state.items.values()
            if item["customer"] == customer_id and item["invoice"] is None and item["currency"] == currency
        ]
        if behavior == "include_and_require" and not pending:
            raise StripeError(400, "Nothing to invoice for customer", code="invoice_no_customer_line_items",
                              param="customer")
        self.state.invoices[invoice_id] = invoice
        self.state.invoice_seq[invoice_id] = self.state.next_invoice_seq
        self.state.next_invoice_seq += 1
        if behavior in ("include", "include_and_require"):
            for item in pending:
                item["invoice"] = invoice_id
        self.ledger.record("create", "invoice", invoice_id, call.idempotency_key,
                           {"customer": customer_id, "status": "draft", "currency": currency})
        return 200, self._render_invoice(invoice, expand)

    def get_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, _EXPAND)
        return 200, self._render_invoice(self._invoice(call.path_params["id"]), params.expand())

    def update_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_UPDATE)
        metadata = params.metadata()
        expand = params.expand()
        invoice = self._invoice(call.path_params["id"])
        changed: list[str] = []
        draft_only = ("collection_method", "days_until_due", "due_date")
        if invoice["status"] != "draft":
            for name in draft_only:
                if params.has(name):
                    raise StripeError(
                        400,
                        f"You can only update `{name}` on draft invoices; this invoice is "
                        f"{invoice['status']}.",
                        code="invoice_not_editable", param=name,
                    )
        editable_after_void = ("description", "footer", "auto_advance")
        if invoice["status"] == "void" and any(params.has(name) for name in editable_after_void):
            raise StripeError(400, "This invoice has been voided and cannot be updated.",
                              code="invoice_not_editable")
        for name in ("description", "footer"):
            if params.has(name):
                invoice[name] = params.text(name) or None
                changed.append(name)
        if params.has("auto_advance"):
            invoice["auto_advance"] = bool(params.boolean("auto_advance"))
            changed.append("auto_advance")
        if params.has("collection_method"):
            invoice["collection_method"] = params.choice(
                "collection_method", ("charge_automatically", "send_invoice")) or invoice["collection_method"]
            changed.append("collection_method")
        if params.has("days_until_due"):
            invoice["_days_until_due"] = params.integer("days_until_due", minimum=0, maximum=730)
            changed.append("days_until_due")
        if params.has("due_date"):
            invoice["due_date"] = params.integer("due_date", minimum=0)
            changed.append("due_date")
        if metadata is not None:
            invoice["metadata"] = _merge_metadata(invoice["metadata"], metadata,
                                                  clear_all=call.params.get("metadata") == "")
            changed.append("metadata")
        self.ledger.record("update", "invoice", invoice["id"], call.idempotency_key, {"fields": changed})
        return 200, self._render_invoice(invoice, expand)

    def delete_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        invoice = self._invoice(call.path_params["id"])
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                f"You can only delete draft invoices. This invoice is {invoice['status']}; finalized "
                "invoices must be voided instead.",
                code="invoice_not_editable",
            )
        for item in self._invoice_items_of(invoice["id"]):
            del self.state.items[item["id"]]
        del self.state.invoices[invoice["id"]]
        self.ledger.record("delete", "invoice", invoice["id"], call.idempotency_key)
        return 200, {"id": invoice["id"], "object": "invoice", "deleted": True}

    def list_invoices(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_LIST)
        limit = params.integer("limit", minimum=1, maximum=100) or 10
        customer = params.text("customer") or None
        status = params.choice("status", INVOICE_STATUSES)
        collection_method = params.choice("collection_method", ("charge_automatically", "send_invoice"))
        starting_after = params.text("starting_after") or None
        ending_before = params.text("ending_before") or None
        expand = [path.removeprefix("data.") for path in params.expand()]
        seq = self.state.invoice_seq
        for cursor, name in ((starting_after, "starting_after"), (ending_before, "ending_before")):
            if cursor is not None and cursor not in self.state.invoices:
                raise _missing("invoice", cursor, param=name, status=400)
        newest_first = sorted(self.state.invoices.values(), key=lambda inv: seq[inv["id"]], reverse=True)
        matching = [
            inv for inv in newest_first
            if (not customer or inv["customer"] == customer)
            and (status is None or inv["status"] == status)
            and (collection_method is None or inv["collection_method"] == collection_method)
        ]
        if starting_after is not None:
            pivot = seq[starting_after]
            window = [inv for inv in matching if seq[inv["id"]] < pivot]
            page, has_more = window[:limit], len(window) > limit
        elif ending_before is not None:
            pivot = seq[ending_before]
            window = [inv for inv in matching if seq[inv["id"]] > pivot]
            page, has_more = window[-limit:], len(window) > limit
        else:
            page, has_more = matching[:limit], len(matching) > limit
        return 200, {
            "object": "list",
            "data": [self._render_invoice(inv, expand) for inv in page],
            "has_more": has_more,
            "url": "/v1/invoices",
        }

    def list_invoice_lines(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_LINES_LIST)
        limit = params.integer("limit", minimum=1, maximum=100) or 10
        starting_after = params.text("starting_after") or None
        invoice = self._invoice(call.path_params["id"])
        lines = [self._line(item) for item in self._invoice_items_of(invoice["id"])]
        if starting_after is not None:
            ids = [line["id"] for line in lines]
            if starting_after not in ids:
                raise _missing("line item", starting_after, param="starting_after", status=400)
            lines = lines[ids.index(starting_after) + 1:]
        return 200, {
            "object": "list",
            "data": lines[:limit],
            "has_more": len(lines) > limit,
            "url": f"/v1/invoices/{invoice['id']}/lines",
        }

    def _finalize(self, invoice: JsonDict, idempotency_key: str | None) -> None:
        """draft -> open, with a number; a zero-amount invoice is marked paid at once, as Stripe does."""
        customer = self.state.customers[invoice["customer"]]
        sequence = int(customer["next_invoice_sequence"])
        customer["next_invoice_sequence"] = sequence + 1
        now = _now()
        invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        invoice["status"] = "open"
        invoice["status_transitions"]["finalized_at"] = now
        invoice["effective_at"] = now
        invoice["hosted_invoice_url"] = f"https://invoice.stripe.com/i/acct_sandbox/test_{invoice['id']}"
        invoice["invoice_pdf"] = f"https://pay.stripe.com/invoice/acct_sandbox/test_{invoice['id']}/pdf"
        invoice["ending_balance"] = 0
        if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
            invoice["due_date"] = now + 86400 * int(invoice["_days_until_due"] or 0)
        amount_due = sum(int(item["amount"]) for item in self._invoice_items_of(invoice["id"]))
        if amount_due <= 0:
            invoice.update({"status": "paid", "paid": True})
            invoice["status_transitions"]["paid_at"] = now
        detail = {"number": invoice["number"], "status": invoice["status"], "amount_due": amount_due}
        self.ledger.record("finalize", "invoice", invoice["id"], idempotency_key, detail)

    def finalize_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_FINALIZE)
        auto_advance = params.boolean("auto_advance")
        expand = params.expand()
        invoice = self._invoice(call.path_params["id"])
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        self._finalize(invoice, call.idempotency_key)
        return 200, self._render_invoice(invoice, expand)

    def void_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, _EXPAND)
        expand = params.expand()
        invoice = self._invoice(call.path_params["id"])
        if invoice["status"] not in ("open", "uncollectible"):
            hint = " Delete the draft instead." if invoice["status"] == "draft" else ""
            raise StripeError(
                400,
                f"You can only void invoices that are open or uncollectible; this invoice is "
                f"{invoice['status']}.{hint}",
                code="invoice_not_editable",
            )
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = _now()
        self.ledger.record("void", "invoice", invoice["id"], call.idempotency_key,
                           {"number": invoice["number"]})
        return 200, self._render_invoice(invoice, expand)

    def pay_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        """Pay in full. The sandbox has no cards: a payment attempt always succeeds."""
        params = Params(call.params, INVOICE_PAY)
        out_of_band = params.boolean("paid_out_of_band")
        expand = params.expand()
        invoice = self._invoice(call.path_params["id"])
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] == "void":
            raise StripeError(400, "This invoice has been voided and cannot be paid.",
                              code="invoice_not_editable")
        if invoice["status"] == "draft":  # Stripe finalizes a draft before attempting payment
            self._finalize(invoice, call.idempotency_key)
        if invoice["status"] != "paid":
            amount_due = sum(int(item["amount"]) for item in self._invoice_items_of(invoice["id"]))
            now = _now()
            invoice.update({"status": "paid", "paid": True, "amount_paid": amount_due, "attempted": True,
                            "attempt_count": 0 if out_of_band else 1, "paid_out_of_band": bool(out_of_band)})
            invoice["status_transitions"]["paid_at"] = now
            self.ledger.record("pay", "invoice", invoice["id"], call.idempotency_key,
                               {"amount_paid": amount_due, "paid_out_of_band": bool(out_of_band)})
        return 200, self._render_invoice(invoice, expand)

    def mark_uncollectible(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, _EXPAND)
        expand = params.expand()
        invoice = self._invoice(call.path_params["id"])
        if invoice["status"] != "open":
            raise StripeError(400, f"You can only mark open invoices as uncollectible; this invoice is "
                                   f"{invoice['status']}.", code="invoice_not_editable")
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = _now()
        self.ledger.record("mark_uncollectible", "invoice", invoice["id"], call.idempotency_key)
        return 200, self._render_invoice(invoice, expand)

    # ----------------------------------------------------------------- invoice items

    def create_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICEITEM_CREATE)
        customer_id = params.text("customer", required=True) or ""
        invoice_id = params.text("invoice") or None
        amount = params.integer("amount")
        unit_amount = params.integer("unit_amount")
        quantity = params.integer("quantity", minimum=0)
        currency = params.currency()
        description = params.text("description") or None
        metadata = params.metadata()
        discountable = params.boolean("discountable")
        expand = params.expand()
        price = params.text("price") or None
        if amount is not None and (unit_amount is not None or price is not None):
            other = "unit_amount" if unit_amount is not None else "price"
            raise _invalid(f"You may only specify one of these parameters: amount, {other}.",
                           param=other, code="parameters_exclusive")
        if amount is not None and quantity not in (None, 1):
            raise _invalid("You cannot specify `quantity` together with `amount`; use `unit_amount` instead.",
                           param="quantity")
        if amount is None and unit_amount is None and price is None and not params.has("price_data"):
            raise _invalid("You must specify either `amount`, `price`, `price_data` or `unit_amount`.",
                           param="amount", code="parameter_missing")

        customer = self._live_customer(customer_id, param="customer", status=400)
        if price is not None:
            raise _missing("price", price, param="price", status=400)
        if params.has("price_data"):
            raise StripeError(400, "price_data is not supported by the Pivot sandbox; use amount or "
                              "unit_amount.", param="price_data")
        invoice: JsonDict | None = None
        if invoice_id is not None:
            invoice = self._invoice(invoice_id, param="invoice", status=400)
            if invoice["customer"] != customer_id:
                raise StripeError(400, f"The invoice {invoice_id} does not belong to customer {customer_id}.",
                                  param="invoice")
            if invoice["status"] != "draft":
                raise StripeError(
                    400,
                    f"You can only add invoice items to draft invoices; invoice {invoice_id} is "
                    f"{invoice['status']}.",
                    code="invoice_not_editable", param="invoice",
                )
        target_currency = invoice["currency"] if invoice is not None else (customer["currency"] or currency)
        currency = currency or target_currency or "usd"
        if invoice is not None and currency != invoice["currency"]:
            raise StripeError(
                400,
                f"The currency of this invoice item ({currency}) does not match the currency of invoice "
                f"{invoice['id']} ({invoice['currency']}).",
                param="currency",
            )
        if unit_amount is not None:
            quantity = 1 if quantity is None else quantity
            total = unit_amount * quantity
        else:
            quantity, unit_amount, total = 1, amount, int(amount or 0)
        now = _now()
        item_id = _new_id("ii_")
        item: JsonDict = {
            "id": item_id,
            "object": "invoiceitem",
            "amount": total,
            "currency": currency,
            "customer": customer_id,
            "date": now,
            "description": description,
            "discountable": True if discountable is None else discountable,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "period": {"end": now, "start": now},
            "price": None,
            "proration": False,
            "quantity": quantity,
            "subscription": None,
            "tax_rates": [],
            "test_clock": None,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
        }
        self.state.items[item_id] = item
        if customer["currency"] is None:
            customer["currency"] = currency
        self.ledger.record("create", "invoiceitem", item_id, call.idempotency_key,
                           {"amount": total, "currency": currency, "invoice": invoice_id})
        return 200, self._render_item(item, expand)

    def _render_item(self, item: JsonDict, expand: list[str] | None = None) -> JsonDict:
        body = dict(item)
        if expand and "invoice" in expand and item["invoice"] in self.state.invoices:
            body["invoice"] = self._render_invoice(self.state.invoices[item["invoice"]])
        return body

    def get_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, _EXPAND)
        item = self.state.items.get(call.path_params["id"])
        if item is None:
            raise _missing("invoiceitem", call.path_params["id"])
        return 200, self._render_item(item, params.expand())

    def delete_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        item = self.state.items.get(call.path_params["id"])
        if item is None:
            raise _missing("invoiceitem", call.path_params["id"])
        invoice = self.state.invoices.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise StripeError(
                400,
                "Invoice items can only be deleted while they are unattached or attached to a draft invoice; "
                f"invoice {invoice['id']} is {invoice['status']}.",
                code="invoice_not_editable",
            )
        del self.state.items[item["id"]]
        self.ledger.record("delete", "invoiceitem", item["id"], call.idempotency_key,
                           {"invoice": item["invoice"]})
        return 200, {"id": item["id"], "object": "invoiceitem", "deleted": True}


def _stamp_headers(scope: Scope) -> list[tuple[str, str]]:
    """Every Stripe response carries a Request-Id; the routes read it back from the scope."""
    request_id = _new_id("req_", 14)
    scope[_REQUEST_ID_SCOPE_KEY] = request_id
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


def create_app() -> Starlette:
    """A fresh Stripe sandbox with its own state, seeded with customer cus_9s6XKzkNRiz8i3."""
    return StripeSandbox().app()
