"""A small Slack Web API client. Slack answers most failures with HTTP 200 and `ok: false`;
this client turns them into the engine's transient / terminal failures.

Rate limits: HTTP 429 with Retry-After is handled by the shared layer; an `ok: false` body with
`ratelimited` (or the old spec's `rate_limited`) is transient too and honours Retry-After when
present. Server-side errors that may have executed (`internal_error`, `fatal_error`,
`request_timeout`) are ambiguous: the caller's next attempt starts with its lookup. Every other
error code is terminal.
"""

from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import Endpoint, ProviderHTTP, json_body, retry_after_seconds

SLACK_API = "https://slack.com"

TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout", "team_added_to_org"}
)
AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error", "request_timeout"})
EVERY_ERROR_STATUS = frozenset(range(400, 600))


class SlackClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint)

    async def call(self, method: str, payload: dict[str, Any], *, read: bool = False) -> dict[str, Any]:
        if read:
            response = await self.http.request("GET", f"/api/{method}", params=payload)
        else:
            response = await self.http.request(
                "POST", f"/api/{method}", json=payload, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        body = json_body(response)
        if not isinstance(body, dict):
            raise ProviderRejected("bad_response", f"Slack {method} answered with a body that is not an object")
        if body.get("ok") is True:
            return body
        error = str(body.get("error") or f"HTTP {response.status_code}")
        if error in TRANSIENT_ERRORS:
            raise ProviderUnavailable(f"Slack {method}: {error}", ambiguous=error in AMBIGUOUS_ERRORS,
                                      retry_after_s=retry_after_seconds(response))
        raise ProviderRejected(error, f"Slack {method} failed: {error}")

    async def answer(self, method: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        """One read-only call (GET), answered as is: `ok: false`, 429 and 5xx included.

        For `pivot doctor`, which reads what `call` throws away: the headers (`x-oauth-scopes`,
        `Date`, `Retry-After`) and the error code of a refused token. Only a request that got no
        answer at all raises (`ProviderUnavailable`)."""
        return await self.http.request("GET", f"/api/{method}", params=payload or {},
                                       passthrough=EVERY_ERROR_STATUS)
