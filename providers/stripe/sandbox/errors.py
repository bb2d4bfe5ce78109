"""Stripe's error bodies: the `StripeError` every endpoint raises, and the fault responder.

`saved` on an error says whether the idempotency layer stores it under the request's key:
Stripe saves a result once endpoint execution has begun (business errors, 500s) but not requests
that fail parameter validation, so retrying those with the same key is safe.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from pivot.providers.sandbox_kit import format_retry_after
from pivot.providers.stripe.sandbox.common import JsonDict


class StripeError(Exception):
    """An error in Stripe's shape. `saved` says whether the idempotency layer stores it;
    `extra` adds fields some errors carry (a card error's decline_code and payment_intent)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
        extra: JsonDict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.saved = saved
        self.extra = dict(extra or {})

    def body(self) -> JsonDict:
        error: JsonDict = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Stripe"'} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter-validation error: 400, never saved under an idempotency key."""
    return StripeError(400, message, code=code, param=param, saved=False)


def missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class StripeFaultResponder:
    """Stripe's own bodies for injected errors and rate limits."""

    def error(self, status: int, body: JsonDict | None) -> Response:
        return JSONResponse(body if body is not None else default_error(status).body(), status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        error = StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
        headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
        return JSONResponse(error.body(), status_code=429, headers=headers)


def default_error(status: int) -> StripeError:
    """The body Stripe sends for a status when nothing more specific applies."""
    if status >= 500:
        return StripeError(
            status,
            "Sorry, something went wrong. We've already been notified of the problem, but if you need any "
            "help, you can reach us at https://support.stripe.com/contact.",
            type_="api_error",
        )
    if status == 402:
        return StripeError(402, "Your card was declined.", type_="card_error", code="card_declined")
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

