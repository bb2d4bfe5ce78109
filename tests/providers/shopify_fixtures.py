"""The Shopify sandbox as a real subprocess, its test instruments, and a harness for the actions.

The sandbox runs exactly as the local stack will run it (`python -m pivot.providers.serve_sandboxes --shopify …`)
on a free loopback port; readiness is its ready line, never a sleep. The harness calls the
catalog's coroutines the way the engine does: params validated by the action's model, keys
derived from (run, step, action).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx

from pivot.compensations.actions import Action, CompensationReport, JsonDict
from pivot.compensations.keys import StepKeys
from pivot.providers.http import Endpoint
from pivot.providers.shopify.actions import shopify_actions
from pivot.providers.shopify.client import API_VERSION, ShopifyClient
from pivot.providers.shopify.shop import Shop
from tests.sandbox.process import SHOPIFY_TOKEN, OneSandbox, running_sandbox

TOKEN = SHOPIFY_TOKEN
TOKEN_ENV = "PIVOT_TEST_SHOPIFY_TOKEN"
CLIENT_TIMEOUT_S = 1.0
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"

T = TypeVar("T")


@contextlib.contextmanager
def running_shopify_sandbox() -> Iterator[OneSandbox]:
    """The shopify sandbox as a real subprocess (`python -m pivot.providers.serve_sandboxes --shopify …`)."""
    with running_sandbox("shopify") as sandbox:
        yield sandbox


class Instruments:
    """The sandbox's `/_sandbox/*` routes, plus raw GraphQL calls for setting the scene."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def fault(self, **rule: Any) -> str:
        response = self.http.post("/_sandbox/faults", json={"method": "POST", "path": GRAPHQL_PATH, **rule})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def fault_on_request(self, number: int, **rule: Any) -> str:
        """A one-shot fault on the `number`-th GraphQL request from now (1-based): the requests
        before it pass through zero-latency rules, since every call shares one path."""
        if number > 1:
            self.fault(action="latency", latency_ms=0, times=number - 1)
        return self.fault(times=1, **rule)

    def hits(self, rule_id: str) -> int:
        rules = self.http.get("/_sandbox/faults").json()["rules"]
        return int(next(rule for rule in rules if rule["id"] == rule_id)["hits"])

    def effects(self, op: str | None = None, obj: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
        params = {name: value for name, value in (("op", op), ("object", obj), ("key", key)) if value}
        response = self.http.get("/_sandbox/ledger", params=params)
        response.raise_for_status()
        return list(response.json()["effects"])

    def graphql(self, query: str, variables: dict[str, Any] | None = None, *,
                version: str = API_VERSION) -> dict[str, Any]:
        response = self.http.post(f"/admin/api/{version}/graphql.json", json={"query": query, "variables": variables},
                                  headers={"X-Shopify-Access-Token": TOKEN})
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, dict)
        return body

    def drain_bucket(self, level: float = 0) -> dict[str, Any]:
        response = self.http.post("/_sandbox/bucket", json={"currentlyAvailable": level})
        response.raise_for_status()
        return dict(response.json())

    def fulfill(self, order_gid: str) -> None:
        number = order_gid.rsplit("/", 1)[-1]
        self.http.post(f"/_sandbox/orders/{number}/fulfill").raise_for_status()


class Harness:
    """The catalog's Shopify actions over one client, called the way the engine calls them."""

    def __init__(self, client: ShopifyClient) -> None:
        self.client = client
        self.actions: dict[str, Action] = {action.name: action for action in shopify_actions(client)}
        self.shop = Shop(client)
        self.run_id = f"run-{uuid.uuid4().hex[:12]}"

    async def draft(self, draft_id: str) -> dict[str, Any]:
        draft = await self.shop.draft(draft_id)
        assert draft is not None, f"no draft order {draft_id}"
        return draft

    async def order(self, order_id: str) -> dict[str, Any]:
        order = await self.shop.order(order_id)
        assert order is not None, f"no order {order_id}"
        return order

    def keys(self, step: str, action: str) -> StepKeys:
        return StepKeys.derive(self.run_id, step, action)

    async def forward(self, action: str, params: dict[str, Any], *, step: str = "s1") -> JsonDict:
        spec = self.actions[action]
        return await spec.forward(spec.params.model_validate(params), self.keys(step, action))

    async def compensate(self, action: str, params: dict[str, Any], result: JsonDict | None, *,
                         step: str = "s1") -> CompensationReport:
        spec = self.actions[action]
        assert spec.compensate is not None
        return await spec.compensate(spec.params.model_validate(params), self.keys(step, action), result)


def run(url: str, scenario: Callable[[Harness], Awaitable[T]], *, version: str = API_VERSION,
        timeout_s: float = CLIENT_TIMEOUT_S) -> T:
    """Run one async scenario with a fresh client (its own event loop, closed afterwards)."""

    async def main() -> T:
        endpoint = Endpoint(provider="shopify", base_url=url, credential_env=TOKEN_ENV, timeout_s=timeout_s,
                            label="Shopify")
        client = ShopifyClient(endpoint, api_version=version)
        try:
            return await scenario(Harness(client))
        finally:
            await client.aclose()

    return asyncio.run(main())
