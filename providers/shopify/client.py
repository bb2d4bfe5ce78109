"""A small Shopify Admin GraphQL client: one endpoint, the access-token header, Shopify's errors.

Every call is `POST /admin/api/{version}/graphql.json` with `{"query", "variables"}`; the
documents live in `documents.py`. Transport failures, 429 and 5xx are classified by the shared
`ProviderHTTP`; this module adds what Shopify says inside a 200 (see `errors.py`).
"""

import re
from collections.abc import Mapping
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import Endpoint, ProviderHTTP, json_body, retry_after_seconds
from pivot.providers.shopify.errors import top_level_failure, user_errors_failure

SHOPIFY_API = "https://example.myshopify.com"
API_VERSION = "2026-01"
"""The first version where `@idempotent` exists (optional until 2026-04, where refundCreate needs it)."""

EVERY_ERROR_STATUS = frozenset(range(400, 600))
_VERSION = re.compile(r"^\d{4}-\d{2}$")
_STATUS_CODES: Mapping[int, str] = {
    400: "bad_request", 402: "shop_unavailable", 403: "unauthorized", 404: "not_found",
    406: "not_acceptable", 423: "shop_locked",
}


class ShopifyClient:
    def __init__(self, endpoint: Endpoint, *, api_version: str = API_VERSION):
        if not _VERSION.match(api_version):
            raise ValueError(f"not a Shopify API version: {api_version!r}")
        self.http = ProviderHTTP(endpoint, auth_scheme="", auth_header="X-Shopify-Access-Token")
        self.api_version = api_version

    @property
    def path(self) -> str:
        return f"/admin/api/{self.api_version}/graphql.json"

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None, *,
                      operation: str = "the request") -> dict[str, Any]:
        """Run one document and return its `data`; any top-level error raises."""
        response = await self.http.request(
            "POST", self.path, json={"query": document, "variables": dict(variables or {})},
            passthrough=frozenset({429}),  # Shopify's throttle body says how long to wait
        )
        body = json_body(response) if response.content else None
        if response.status_code == 429:
            if isinstance(body, dict) and body.get("errors"):
                raise top_level_failure(body["errors"], body.get("extensions"), operation)
            raise ProviderUnavailable(f"Shopify throttled {operation} (429)",
                                      retry_after_s=retry_after_seconds(response))
        if response.status_code >= 400:
            detail = body.get("errors") if isinstance(body, dict) else None
            if response.status_code == 401:
                raise ProviderRejected("unauthorized", f"Shopify refused the access token: {detail}")
            code = _STATUS_CODES.get(response.status_code, "invalid_request")
            raise ProviderRejected(code, f"Shopify answered {response.status_code} to {operation}: {detail}")
        if not isinstance(body, dict):
            raise ProviderRejected("bad_response", f"Shopify answered {operation} with a body that is not an object")
        if body.get("errors"):
            raise top_level_failure(body["errors"], body.get("extensions"), operation)
        data = body.get("data")
        if not isinstance(data, dict):
            raise ProviderRejected("bad_response", f"Shopify answered {operation} without data")
        return data

    async def mutate(self, document: str, variables: Mapping[str, Any], field: str, *,
                     errors_field: str = "userErrors") -> dict[str, Any]:
        """Run a mutation and return its payload; userErrors raise (terminal, or transient for
        an idempotent request that is still in progress)."""
        data = await self.execute(document, variables, operation=field)
        payload = data.get(field)
        if not isinstance(payload, dict):
            raise ProviderRejected("bad_response", f"Shopify answered {field} without a payload")
        errors = payload.get(errors_field) or []
        if errors:
            raise user_errors_failure([e for e in errors if isinstance(e, dict)] or [{"message": str(errors)}], field)
        return payload

    async def answer(self, document: str, variables: Mapping[str, Any] | None = None) -> httpx.Response:
        """One document answered as is: every status, the body's `errors` and `extensions`, and the
        headers (`X-Shopify-API-Version`, `Date`).

        For `pivot doctor`, which reads what `execute` turns into errors (a 401, ACCESS_DENIED,
        THROTTLED) and what it throws away (the version served, the bucket's level). Only a
        request that got no answer raises (`ProviderUnavailable`)."""
        return await self.http.request("POST", self.path, json={"query": document, "variables": dict(variables or {})},
                                       passthrough=EVERY_ERROR_STATUS)

    async def aclose(self) -> None:
        await self.http.aclose()
