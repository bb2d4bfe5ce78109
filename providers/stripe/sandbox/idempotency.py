"""Stripe's idempotency layer: save a POST's outcome under its key, replay it, refuse misuse.

- A saved response is replayed with `Idempotent-Replayed: true` (and the original Request-Id).
- The same key on another endpoint, or with other parameters, is a 400 `idempotency_error`.
- A request while another with the same key is executing is a 409 `idempotency_key_in_use`.
- Validation errors (raised before execution begins) are not saved; business errors and 500s are.
Keys are scoped per API key, as Stripe scopes them per account.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from pivot.providers.sandbox_kit import apply_pending_latency
from pivot.providers.stripe.sandbox.common import Handler, JsonDict, SavedResponse, Store, StripeCall
from pivot.providers.stripe.sandbox.errors import StripeError, default_error, invalid

MAX_IDEMPOTENCY_KEY_LENGTH = 255
REQUEST_ID_SCOPE_KEY = "pivot.stripe.request_id"

log = logging.getLogger("pivot.sandbox.stripe")


def execute(handler: Handler, call: StripeCall) -> tuple[int, JsonDict, bool]:
    """Run a handler; returns (status, body, whether the idempotency layer saves it)."""
    try:
        status, body = handler(call)
    except StripeError as error:
        return error.status, error.body(), error.saved
    except Exception:  # a sandbox bug must look like Stripe's 500, which Stripe also saves
        log.exception("stripe sandbox handler crashed on %s %s", call.method, call.path)
        return 500, default_error(500).body(), True
    return status, body, True


async def idempotent(store: Store, scope: Scope, api_key: str, call: StripeCall, handler: Handler) -> Response:
    """Stripe's idempotency layer, keyed per API key (Stripe: per account)."""
    key = call.idempotency_key or ""
    headers = {"Idempotency-Key": key}
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        error = invalid(
            f"Invalid Idempotency-Key: keys can be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters long "
            f"(yours has {len(key)}).",
        )
        return error.response()
    slot = (api_key, key)
    if slot in store.state.in_flight:
        conflict = StripeError(
            409,
            "There is currently another in-progress request using this Idempotent Key (that probably "
            f"means you submitted twice, and the other request is still going through): {key}. "
            "Please try again later.",
            type_="idempotency_error",
            code="idempotency_key_in_use",
        )
        return JSONResponse(conflict.body(), status_code=409, headers=headers)
    saved = store.state.saved.get(slot)
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
    state = store.state  # a reset while this request is in flight must not resurrect its key
    state.in_flight.add(slot)
    try:
        await apply_pending_latency(scope)
        status, body, persist = execute(handler, call)
        request_id = str(scope.get(REQUEST_ID_SCOPE_KEY, ""))
        if persist:
            state.saved[slot] = SavedResponse(
                method=call.method, path=call.path, params=call.params, status=status, body=body,
                request_id=request_id,
            )
    finally:
        state.in_flight.discard(slot)
    return JSONResponse(body, status_code=status, headers={**headers, "Original-Request": request_id})

