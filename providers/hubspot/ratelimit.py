"""How long to wait after HubSpot's 429, derived the way HubSpot's official SDK derives it.

HubSpot's `Retry-After` is inconsistent (often absent, sometimes not matching the window), so
the wait comes from the policy that was hit: `policyName` in the body and the window in
`X-HubSpot-RateLimit-Interval-Milliseconds`. The Node SDK waits 10 s (times the attempt number)
for TEN_SECONDLY_ROLLING and 1 s (times the attempt number) for secondly limits; the engine's
backoff supplies the growth per attempt. A DAILY limit will not lift within a forward step's
budget: it gets the longest wait the shared HTTP layer allows, so a compensation (which retries
for days) waits it out instead of hammering.
"""

import httpx

from pivot.compensations.errors import ProviderUnavailable
from pivot.providers.http import MAX_RETRY_AFTER_S, retry_after_seconds

TEN_SECONDLY_WAIT_S = 10.0
SECONDLY_WAIT_S = 1.0
INTERVAL_HEADER = "x-hubspot-ratelimit-interval-milliseconds"


def rate_limit_wait(policy: str | None, headers: httpx.Headers, fallback: float | None) -> float:
    """Seconds to wait before the next attempt, from the policy hit and HubSpot's headers."""
    name = (policy or "").upper()
    if name == "DAILY":
        return MAX_RETRY_AFTER_S
    if name.startswith("SECONDLY"):
        return SECONDLY_WAIT_S
    interval = headers.get(INTERVAL_HEADER)
    if interval and interval.isdigit() and int(interval) > 0:
        return min(int(interval) / 1000, MAX_RETRY_AFTER_S)
    if name == "TEN_SECONDLY_ROLLING":
        return TEN_SECONDLY_WAIT_S
    return fallback if fallback is not None else TEN_SECONDLY_WAIT_S


async def raise_for_rate_limit(response: httpx.Response) -> None:
    """httpx response hook: turn a 429 into `ProviderUnavailable` with HubSpot's own wait.

    Runs before the shared layer's generic 429 handling, which only knows Retry-After."""
    if response.status_code != 429:
        return
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = {}
    policy = body.get("policyName") if isinstance(body, dict) else None
    wait = rate_limit_wait(policy if isinstance(policy, str) else None, response.headers,
                           retry_after_seconds(response))
    raise ProviderUnavailable(
        f"HubSpot rate-limited {response.request.method} {response.request.url.path} "
        f"(429, {policy or 'unknown policy'}); waiting {wait:g}s",
        retry_after_s=wait,
    )
