"""A small Stripe API client: form encoding, Idempotency-Key, and Stripe's error taxonomy.

Only what the catalog's actions use. Every POST carries an idempotency key chosen by the
caller (a structural saga key), never a random one. Stripe scopes a key to one endpoint, so a
caller uses a distinct sub-key per endpoint it writes to.

Replays: Stripe answers a repeated key with the saved response and `Idempotent-Replayed: true`.
A replayed success is fine (callers read objects back anyway, since a replayed body is as old as
the first answer); a replayed 5xx is a saved failure that every retry under that key would get
again for 24 h, so it is terminal, not transient. So is a 5xx with `Stripe-Should-Retry: false`.
"""

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import Endpoint, ProviderHTTP, json_body, retry_after_seconds

log = logging.getLogger("pivot.providers.stripe")

STRIPE_API = "https://api.stripe.com"
STRIPE_VERSION = "2023-08-16"
MAX_KEY_LENGTH = 255
EVERY_ERROR_STATUS = frozenset(range(400, 600))


def form_encode(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's bracket nesting: {"metadata": {"k": "v"}} -> metadata[k]=v, lists -> a[0][b]."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, dict):
            pairs += form_encode(value, name)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    pairs += form_encode(item, f"{name}[{index}]")
                else:
                    pairs.append((f"{name}[{index}]", _scalar(item)))
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def refuse_settled_failures(response: httpx.Response) -> None:
    """httpx response hook: stop the shared layer from retrying a failure Stripe will repeat.

    Runs before `ProviderHTTP` classifies the status (it would call any 5xx transient)."""
    if response.status_code < 500:
        return
    replayed = response.headers.get("idempotent-replayed") == "true"
    if replayed or response.headers.get("stripe-should-retry") == "false":
        reason = "replayed the saved" if replayed else "answered"
        raise ProviderRejected(
            "stripe_settled_failure",
            f"Stripe {reason} {response.status_code} for {response.request.method} {response.request.url.path} "
            "and says a retry with the same key cannot succeed",
            {"status": response.status_code, "request_id": response.headers.get("request-id")},
        )


class StripeClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint, response_hooks=[refuse_settled_failures])

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """GET an object or list; None when Stripe says it does not exist."""
        response = await self.http.request("GET", path, params=form_encode(params or {}),
                                           headers={"Stripe-Version": STRIPE_VERSION})
        if response.status_code == 404:
            return None
        return self._checked(response)

    async def post(self, path: str, data: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        if len(idempotency_key) > MAX_KEY_LENGTH:
            raise ValueError("Stripe idempotency keys are at most 255 characters")
        response = await self.http.request(
            "POST", path, data=dict(form_encode(data)) if data else None,
            headers={"Idempotency-Key": idempotency_key, "Stripe-Version": STRIPE_VERSION},
        )
        if response.headers.get("idempotent-replayed") == "true":
            log.info("Stripe replayed the saved answer to POST %s (request %s)", path,
                     response.headers.get("original-request"))
        return self._checked(response)

    async def listing(self, path: str, params: dict[str, Any], *, pages: int = 5) -> AsyncGenerator[dict[str, Any]]:
        """Every object of a list endpoint, newest first, within `pages` pages of 100.

        Lists are consistent where Stripe's search is not (search lags by up to a minute)."""
        starting_after: str | None = None
        for _ in range(pages):
            page = await self.get(path, {**params, "limit": 100, "starting_after": starting_after})
            data = [item for item in (page or {}).get("data") or [] if isinstance(item, dict)]
            for item in data:
                yield item
            if not (page or {}).get("has_more") or not data:
                return
            starting_after = str(data[-1]["id"])

    async def find(
        self, path: str, params: dict[str, Any], match: Callable[[dict[str, Any]], bool], *, pages: int = 5
    ) -> dict[str, Any] | None:
        """The first object of a list endpoint (newest first) that `match`es, within `pages` pages."""
        async with aclosing(self.listing(path, params, pages=pages)) as items:
            async for item in items:
                if match(item):
                    return item
        return None

    async def find_every(
        self, path: str, params: dict[str, Any], match: Callable[[dict[str, Any]], bool], *, pages: int = 5
    ) -> list[dict[str, Any]]:
        """Every object of a list endpoint (newest first) that `match`es, within `pages` pages."""
        return [item async for item in self.listing(path, params, pages=pages) if match(item)]

    async def delete(self, path: str) -> dict[str, Any]:
        response = await self.http.request("DELETE", path, headers={"Stripe-Version": STRIPE_VERSION})
        return self._checked(response)

    async def answer(self, method: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """One request answered as is (every status, headers included), with Pivot's Stripe-Version
        and no Idempotency-Key.

        For `pivot doctor`, which reads what the other methods turn into errors: the 401 of a bad
        key, the 403 of a restricted key without a permission, and the headers (Stripe-Version,
        Date). Its probes never write (a GET, or an update of an object that does not exist), so
        there is nothing for an idempotency key to protect. Only a request that got no answer
        raises (`ProviderUnavailable`)."""
        encoded = form_encode(params or {})
        return await self.http.request(
            method, path, params=encoded if method == "GET" else None,
            data=dict(encoded) if encoded and method != "GET" else None,
            headers={"Stripe-Version": STRIPE_VERSION}, passthrough=EVERY_ERROR_STATUS,
        )

    def _checked(self, response: Any) -> dict[str, Any]:
        body = json_body(response)
        if response.status_code < 400:
            if not isinstance(body, dict):
                raise ProviderRejected("bad_response", "Stripe answered with a body that is not an object")
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        kind, code = error.get("type", ""), error.get("code", "")
        message = str(error.get("message") or f"HTTP {response.status_code}")
        should_retry = response.headers.get("stripe-should-retry")
        if code in {"idempotency_key_in_use", "lock_timeout", "rate_limit"} or should_retry == "true":
            raise ProviderUnavailable(f"Stripe: {message}", retry_after_s=retry_after_seconds(response))
        if kind == "idempotency_error":
            raise ProviderRejected("idempotency_mismatch", f"Stripe: {message}")
        if response.status_code == 402 or kind == "card_error":
            intent = error.get("payment_intent")
            raise ProviderRejected(code or "card_declined", f"Stripe declined: {message}",
                                   {"decline_code": error.get("decline_code"),
                                    "payment_intent": intent.get("id") if isinstance(intent, dict) else None})
        if response.status_code in {401, 403}:
            raise ProviderRejected("unauthorized", f"Stripe refused the credentials: {message}")
        raise ProviderRejected(code or "invalid_request", f"Stripe rejected the request: {message}",
                               {"param": error.get("param")} if error.get("param") else None)
