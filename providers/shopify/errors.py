"""How Shopify says "no": top-level GraphQL errors and mutation userErrors, as engine failures.

Shopify answers almost everything with HTTP 200. A request refused as a whole carries top-level
`errors[{message, extensions{code}}]` (THROTTLED, validation, access); a business refusal comes
back inside the mutation's payload as `userErrors[{field, message}]` (some payloads, such as
`orderCancelUserErrors`, add a `code`). The generic `UserError` type has no `code` field, so the
idempotency failures of `@idempotent` mutations are recognised by their documented messages too.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import MAX_RETRY_AFTER_S

THROTTLED = "THROTTLED"
IDEMPOTENCY_CONCURRENT_REQUEST = "IDEMPOTENCY_CONCURRENT_REQUEST"
IDEMPOTENCY_KEY_PARAMETER_MISMATCH = "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED = "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"

IDEMPOTENCY_MESSAGES: Mapping[str, str] = {
    "this request is currently in progress, please try again": IDEMPOTENCY_CONCURRENT_REQUEST,
    "the same idempotency key cannot be used with different operation parameters":
        IDEMPOTENCY_KEY_PARAMETER_MISMATCH,
    "a previous request with this idempotency key failed": IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED,
}
"""Shopify's wording for the idempotency failures (shopify.dev error-code enums), lower-cased."""

TRANSIENT_CODES = frozenset({THROTTLED, IDEMPOTENCY_CONCURRENT_REQUEST})
AMBIGUOUS_CODES = frozenset({"INTERNAL_SERVER_ERROR"})
"""Shopify's 200-with-errors internal error: the mutation may or may not have run."""

_FALLBACK_THROTTLE_WAIT_S = 1.0


def error_code(error: Mapping[str, Any]) -> str | None:
    """The code of a top-level error or a userError, from `extensions.code`, `code` or the message."""
    extensions = error.get("extensions")
    if isinstance(extensions, Mapping) and isinstance(extensions.get("code"), str):
        return str(extensions["code"])
    if isinstance(error.get("code"), str) and error["code"]:
        return str(error["code"])
    message = str(error.get("message") or "").strip().rstrip(".").lower()
    return next((code for text, code in IDEMPOTENCY_MESSAGES.items() if message.startswith(text)), None)


def throttle_wait_s(extensions: Any) -> float:
    """Seconds until the bucket holds the points this query asked for: Shopify sends no
    Retry-After, only `extensions.cost` with the bucket's level and restore rate."""
    cost = extensions.get("cost") if isinstance(extensions, Mapping) else None
    status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
    try:
        requested = float(cost["requestedQueryCost"])  # type: ignore[index]
        available = float(status["currentlyAvailable"])  # type: ignore[index]
        rate = float(status["restoreRate"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return _FALLBACK_THROTTLE_WAIT_S
    if rate <= 0:
        return _FALLBACK_THROTTLE_WAIT_S
    return min(max((requested - available) / rate, 1.0 / rate), MAX_RETRY_AFTER_S)


def _messages(errors: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(str(error.get("message") or "error") for error in errors[:3])


def top_level_failure(errors: Any, extensions: Any, operation: str) -> Exception:
    """The engine failure for a response whose top-level `errors` is set."""
    if isinstance(errors, str) or not isinstance(errors, list) or not errors:
        return ProviderRejected("graphql_error", f"Shopify refused {operation}: {errors}")
    items = [error for error in errors if isinstance(error, Mapping)] or [{"message": str(errors)}]
    codes = [error_code(error) for error in items]
    if THROTTLED in codes:
        wait = throttle_wait_s(extensions)
        return ProviderUnavailable(f"Shopify throttled {operation}; the bucket refills in {wait:.2f}s",
                                   retry_after_s=wait)
    transient = next((code for code in codes if code in TRANSIENT_CODES | AMBIGUOUS_CODES), None)
    if transient is not None:
        return ProviderUnavailable(f"Shopify could not run {operation} now: {_messages(items)}",
                                   ambiguous=transient in AMBIGUOUS_CODES)
    code = next((code for code in codes if code), None) or "graphql_error"
    return ProviderRejected(code.lower(), f"Shopify refused {operation}: {_messages(items)}",
                            {"errors": [dict(error) for error in items[:3]]})


def user_errors_failure(errors: Sequence[Mapping[str, Any]], operation: str) -> Exception:
    """The engine failure for a mutation payload with userErrors: the first error's code decides."""
    first = errors[0]
    code = error_code(first)
    message = f"Shopify rejected {operation}: {_messages(errors)}"
    if code in TRANSIENT_CODES:
        return ProviderUnavailable(message)
    return ProviderRejected((code or "user_error").lower(), message,
                            {"field": first.get("field"), "errors": [dict(error) for error in errors[:5]]})
