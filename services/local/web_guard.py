"""What the approval page's server does for every request before its routes see it.

The page decides real things (an approval releases an invoice), so it gets the protections a
browser app needs even on loopback:
- `SecurityHeaders`: a Content-Security-Policy that allows only the page's own script, style
  and API (no inline code, no framing: `frame-ancestors 'none'`, against clickjacking),
  `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and `no-store` caching.
- `ApiOriginCheck`: the JSON API answers only its own page (or a non-browser client). A page
  from another origin cannot read the answers anyway (no CORS grant), but it could still
  fire requests; and it must send `application/json`, which no HTML form can.
- `AttemptLimits`: decisions (and reads) are rate-limited per approver and per client address, so guessing
  a token through the page is slow and visible (limits' moving window, in memory).
Host headers are checked by starlette's `TrustedHostMiddleware` (DNS rebinding), in the app.
"""

import math
import time
from collections.abc import Iterable

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pivot.compensations.error_body import ErrorBody

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((n, v) for n, v in SECURITY_HEADERS if n not in names)]
            await send(message)

        await self._app(scope, receive, with_headers)


class ApiOriginCheck:
    """Under `prefix`: refuse (403) a browser `Origin` other than the page's own or an allowed one,
    and (415) a POST that is not JSON."""

    def __init__(self, app: ASGIApp, prefix: str, allowed: Iterable[str] = ()):
        self._app = app
        self._prefix = prefix
        self._allowed = frozenset(o.rstrip("/").lower() for o in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefix):
            headers = Headers(scope=scope)
            problem = self._problem(scope, headers)
            if problem is not None:
                status, code, message = problem
                body = ErrorBody(code=code, message=message, status=status).body()
                await JSONResponse(body, status_code=status)(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _problem(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        origin = headers.get("origin")
        if origin is not None:
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
            if origin.rstrip("/").lower() not in {own, *self._allowed}:
                return 403, "origin_refused", "this API answers its own page only"
        elif headers.get("sec-fetch-site", "none") not in {"none", "same-origin"}:
            return 403, "origin_refused", "this API answers its own page only"
        if scope["method"] == "POST" and headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return 415, "unsupported_media_type", "send application/json"
        return None


class AttemptLimits:
    """Attempts per approver and per client address, in a moving window (one instance per kind
    of attempt: decisions are scarcer than reads)."""

    def __init__(self, per_approver: str, per_client: str):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_approver: RateLimitItem = parse(per_approver)
        self._per_client: RateLimitItem = parse(per_client)

    def retry_after(self, approver: str, client: str) -> int | None:
        """None when this attempt may go ahead (it is counted); else seconds until one may."""
        for item, who in ((self._per_client, f"client:{client}"), (self._per_approver, f"approver:{approver}")):
            if not self._limiter.hit(item, who):
                reset = self._limiter.get_window_stats(item, who).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
