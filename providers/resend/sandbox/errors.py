"""Resend's error bodies: `{"statusCode": N, "name": "<code>", "message": "…"}` (its API reference's
error table, and the names the official SDKs map), plus the 429 with its rate-limit headers."""

from typing import Any

from starlette.responses import JSONResponse, Response

from pivot.providers.sandbox_kit import format_retry_after

RATE_LIMIT = 2
"""Resend's default: 2 requests per second per team."""
RATE_LIMIT_MESSAGE = ("Too many requests. You can only make 2 requests per second. See rate limit response "
                      "headers for more information. Or contact support to increase rate limit.")
DEFAULT_NAMES = {400: "validation_error", 401: "missing_api_key", 403: "invalid_api_key", 404: "not_found",
                 405: "method_not_allowed", 409: "concurrent_idempotent_requests", 422: "validation_error",
                 429: "rate_limit_exceeded"}


class ResendError(Exception):
    def __init__(self, status: int, name: str, message: str):
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"statusCode": self.status, "name": self.name, "message": self.message}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def rate_limit_headers(remaining: int, reset_s: int = 1) -> dict[str, str]:
    return {"ratelimit-limit": str(RATE_LIMIT), "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset_s)}


class ResendFaultResponder:
    """Resend's bodies for injected failures."""

    def error(self, status: int, body: dict[str, Any] | None) -> Response:
        if body is None:
            name = DEFAULT_NAMES.get(status, "internal_server_error" if status >= 500 else "validation_error")
            message = "An unexpected error occurred." if status >= 500 else f"Request failed ({status})."
            body = {"statusCode": status, "name": name, "message": message}
        return JSONResponse(body, status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        headers = rate_limit_headers(0)
        if retry_after is not None:
            headers["retry-after"] = format_retry_after(retry_after)
        body = {"statusCode": 429, "name": "rate_limit_exceeded", "message": RATE_LIMIT_MESSAGE}
        return JSONResponse(body, status_code=429, headers=headers)
