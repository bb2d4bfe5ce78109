"""`pivot doctor` and `pivot setup` for Shopify against the Shopify shopify_sandbox, and the sandbox's side of it.

The sandbox's token book (`/_sandbox/tokens`) revokes a token or narrows the app's access scopes;
the account must then name the problem and its fix, and the catalog must run with exactly the
scopes doctor asks for. The sandbox answers in Shopify's shapes: the 401 body, ACCESS_DENIED with
`requiredAccess`, `extensions.cost.throttleStatus` on every GraphQL answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from pivot.compensations.errors import ProviderRejected
from pivot.providers.account_kit import API_CHECKS, Check, SetupStep
from pivot.providers.http import Endpoint
from pivot.providers.shopify.account import REQUIRED_SCOPES, ShopifyAccount
from pivot.providers.shopify.client import API_VERSION, ShopifyClient
from pivot.providers.shopify.sandbox.access import SANDBOX_SCOPES
from tests.providers.account_helpers import assert_no_secret
from tests.providers.shopify_fixtures import (
    GRAPHQL_PATH,
    TOKEN,
    TOKEN_ENV,
    Harness,
    Instruments,
    run,
)
from tests.sandbox.process import OneSandbox, free_port

T = TypeVar("T")
ALL_CHECKS = list(API_CHECKS)
TEE = "gid://shopify/ProductVariant/44000000001"  # a seeded variant
DRAFT = {"line_items": [{"title": "Pro plan", "price": "12.00", "quantity": 1}, {"variant_id": TEE, "quantity": 1}],
         "email": "ada@example.com"}
SHOP_QUERY = "{ shop { id name myshopifyDomain email currencyCode ianaTimezone } " \
             "currentAppInstallation { id app { id title } accessScopes { handle description } } }"


def register(box: Instruments, **rule: Any) -> None:
    response = box.http.post("/_sandbox/tokens", json=rule)
    assert response.status_code == 201, response.text


def new_token(kind: str) -> str:
    return f"shpat_{kind}_{uuid.uuid4().hex[:16]}"


def with_account(url: str, use: Callable[[ShopifyAccount], Awaitable[T]], *, version: str = API_VERSION) -> T:
    """Run one coroutine against a fresh account (its own event loop, the client closed after)."""

    async def main() -> T:
        client = ShopifyClient(Endpoint(provider="shopify", base_url=url, credential_env=TOKEN_ENV, timeout_s=1.0,
                                        label="Shopify"), api_version=version)
        try:
            return await use(ShopifyAccount(client))
        finally:
            await client.aclose()

    return asyncio.run(main())


def doctor(url: str, *, version: str = API_VERSION) -> dict[str, Check]:
    async def checks(account: ShopifyAccount) -> list[Check]:
        found = await account.checks()
        assert [check.name for check in found] == ALL_CHECKS
        return found

    return {check.name: check for check in with_account(url, checks, version=version)}


def setup(url: str, *, dry_run: bool) -> list[SetupStep]:
    async def steps(account: ShopifyAccount) -> list[SetupStep]:
        return await account.setup(dry_run=dry_run)

    return with_account(url, steps)



def raw_graphql(url: str, token: str, query: str, version: str = API_VERSION) -> httpx.Response:
    return httpx.post(f"{url}/admin/api/{version}/graphql.json", json={"query": query},
                      headers={"X-Shopify-Access-Token": token}, timeout=5)


# --------------------------------------------------------------------------- doctor


def test_doctor_is_all_green_against_a_fresh_sandbox(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    checks = doctor(shopify_sandbox.url)

    assert [check for check in checks.values() if not check.ok] == []
    assert "Pivot Sandbox (example.myshopify.com)" in checks["credentials"].detail
    assert checks["api version"].detail == f"Shopify serves {API_VERSION}, the version Pivot speaks"
    assert "points available in the app's bucket, refilling 100/s" in checks["rate limit"].detail
    assert_no_secret(list(checks.values()), TOKEN)


def test_a_revoked_token_fails_the_credentials_and_says_what_to_do(
    shopify_sandbox: OneSandbox, box: Instruments, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token("revoked")
    register(box, token=token, revoked=True)
    monkeypatch.setenv(TOKEN_ENV, token)

    checks = doctor(shopify_sandbox.url)

    credentials = checks["credentials"]
    assert not credentials.ok and "(401)" in credentials.detail and TOKEN_ENV in credentials.detail
    assert "install the app again" in credentials.fix and TOKEN_ENV in credentials.fix
    assert not checks["scopes"].ok and checks["scopes"].detail.startswith("not checked")
    assert checks["reachable"].ok and checks["clock"].ok
    assert_no_secret(list(checks.values()), token)


def test_missing_scopes_are_named_with_their_fix_and_the_actions_meet_them(
    shopify_sandbox: OneSandbox, box: Instruments, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token("narrow")
    register(box, token=token, scopes=["read_orders", "write_draft_orders"])
    monkeypatch.setenv(TOKEN_ENV, token)

    checks = doctor(shopify_sandbox.url)

    scopes = checks["scopes"]
    assert not scopes.ok and scopes.detail.startswith(
        "the app lacks write_orders, read_products, write_inventory, write_merchant_managed_fulfillment_orders (")
    assert "add the access scopes write_orders, read_products, write_inventory" in scopes.fix
    assert "install the app again" in scopes.fix
    assert checks["credentials"].ok

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderRejected) as refused:
            await h.forward("shopify.create_draft_order", DRAFT)
        assert refused.value.info.code == "access_denied"

    run(shopify_sandbox.url, scenario)


def test_the_required_scopes_are_enough_for_every_shopify_action(
    shopify_sandbox: OneSandbox, box: Instruments, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctor's list is not a guess: an app with exactly those scopes runs the whole catalog."""
    token = new_token("exact")
    register(box, token=token, scopes=list(REQUIRED_SCOPES))
    monkeypatch.setenv(TOKEN_ENV, token)
    assert all(check.ok for check in doctor(shopify_sandbox.url).values())

    async def scenario(h: Harness) -> None:
        draft = await h.forward("shopify.create_draft_order", DRAFT, step="draft")
        await h.compensate("shopify.create_draft_order", DRAFT, draft, step="draft")
        again = await h.forward("shopify.create_draft_order", DRAFT, step="draft2")
        params = {"draft_order": again["id"]}
        order = await h.forward("shopify.complete_draft_order", params, step="complete")
        await h.forward("shopify.refund", {"order": order["id"], "amount": "5.00", "currency": "USD"},
                        step="refund")
        await h.compensate("shopify.complete_draft_order", params, order, step="complete")
        other = await h.forward("shopify.create_draft_order", DRAFT, step="draft3")
        done = await h.forward("shopify.complete_draft_order", {"draft_order": other["id"]}, step="complete3")
        await h.forward("shopify.cancel_order", {"order": done["id"]}, step="cancel")

    run(shopify_sandbox.url, scenario)
    assert {(effect["op"], effect["object"]) for effect in box.effects()} >= {
        ("create", "draft_order"), ("delete", "draft_order"), ("create", "refund"), ("cancel", "order")}


def test_an_unreachable_shop_is_one_failing_check_naming_it(box: Instruments) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    async def both(account: ShopifyAccount) -> tuple[list[Check], list[SetupStep]]:
        return await account.checks(), await account.setup(dry_run=True)

    checks, steps = with_account(url, both)
    assert [(check.name, check.ok) for check in checks] == [("reachable", False)]
    assert url in checks[0].detail and "cannot connect" in checks[0].detail and url in checks[0].fix
    assert [step.state for step in steps] == ["exists", "exists", "manual"] and url in steps[2].detail


def test_an_api_version_without_idempotent_fails_the_version_check(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    checks = doctor(shopify_sandbox.url, version="2025-10")
    assert not checks["api version"].ok and "2025-10 predates @idempotent(key:) (2026-01)" in \
        checks["api version"].detail
    assert checks["credentials"].ok and checks["scopes"].ok

    gone = doctor(shopify_sandbox.url, version="2024-01")
    assert not gone["api version"].ok and "serves no Admin API 2024-01" in gone["api version"].detail


def test_a_throttled_answer_fails_the_rate_limit_check(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    box.fault(action="rate_limit", retry_after=2, times=1)
    checks = doctor(shopify_sandbox.url)
    assert not checks["rate limit"].ok and "throttled" in checks["rate limit"].detail
    assert not checks["credentials"].ok and "THROTTLED" in checks["credentials"].detail


# --------------------------------------------------------------------------- setup


def test_setup_names_exactly_the_missing_scopes_and_changes_nothing(
    shopify_sandbox: OneSandbox, box: Instruments, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token("narrow")
    register(box, token=token, scopes=["write_draft_orders"])
    monkeypatch.setenv(TOKEN_ENV, token)
    for dry_run in (True, False):
        steps = setup(shopify_sandbox.url, dry_run=dry_run)

        assert [step.what for step in steps if step.state == "manual"] == [
            "access scope write_orders", "access scope read_products", "access scope write_inventory",
            "access scope write_merchant_managed_fulfillment_orders", "install the app again"]
        assert {step.what for step in steps if step.state == "exists"} == {
            "access scope write_draft_orders", "key carrier: draft order tag and custom attribute pivot_key",
            "key carrier: refundCreate @idempotent(key:)"}
        assert "write_orders, read_products" in steps[-1].detail and TOKEN_ENV in steps[-1].detail
        assert_no_secret(steps, token)
    assert box.effects() == []


def test_setup_with_every_scope_has_nothing_manual(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    steps = setup(shopify_sandbox.url, dry_run=False)
    assert [step.state for step in steps] == ["exists"] * (2 + len(REQUIRED_SCOPES))


# --------------------------------------------------------------------------- the sandbox's side


def test_shop_and_the_app_installation_answer_in_shopifys_shapes(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    response = raw_graphql(shopify_sandbox.url, TOKEN, SHOP_QUERY)

    assert response.status_code == 200 and response.headers["x-shopify-api-version"] == API_VERSION
    body = response.json()
    assert "errors" not in body
    shop = body["data"]["shop"]
    assert (shop["name"], shop["myshopifyDomain"], shop["currencyCode"]) == ("Pivot Sandbox", "example.myshopify.com",
                                                                            "USD")
    assert shop["id"].startswith("gid://shopify/Shop/")
    installation = body["data"]["currentAppInstallation"]
    assert installation["id"].startswith("gid://shopify/AppInstallation/")
    assert [scope["handle"] for scope in installation["accessScopes"]] == list(SANDBOX_SCOPES)
    assert all(scope["description"] for scope in installation["accessScopes"])
    bucket = body["extensions"]["cost"]["throttleStatus"]
    assert set(bucket) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}

    token = new_token("narrow")
    register(box, token=token, scopes=["read_orders"])
    narrowed = raw_graphql(shopify_sandbox.url, token, SHOP_QUERY).json()["data"]["currentAppInstallation"]
    assert [scope["handle"] for scope in narrowed["accessScopes"]] == ["read_orders"]


def test_a_missing_scope_is_shopifys_access_denied(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    token = new_token("narrow")
    register(box, token=token, scopes=["read_orders"])

    response = raw_graphql(shopify_sandbox.url, token, 'mutation { orderCancel(orderId: "gid://shopify/Order/1", '
                                               "reason: OTHER, restock: false) { job { id } } }")
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"orderCancel": None}
    assert body["errors"] == [{
        "message": "Access denied for orderCancel field. Required access: `write_orders` access scope.",
        "locations": [{"line": 1, "column": 12}],
        "path": ["orderCancel"],
        "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                       "requiredAccess": "`write_orders` access scope."},
    }]
    assert "throttleStatus" in body["extensions"]["cost"]
    readable = raw_graphql(shopify_sandbox.url, token, '{ order(id: "gid://shopify/Order/1") { id } }').json()
    assert "errors" not in readable  # read_orders covers order(id:)
    assert box.effects() == []


def test_a_revoked_token_is_shopifys_401_and_reset_clears_the_book(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    token = new_token("revoked")
    register(box, token=token, revoked=True)
    assert box.http.get("/_sandbox/tokens").json()["tokens"] == [{"token": token, "scopes": None, "revoked": True}]

    response = box.http.post(GRAPHQL_PATH, json={"query": SHOP_QUERY}, headers={"X-Shopify-Access-Token": token})
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                         "password)"}

    box.reset()
    assert box.http.get("/_sandbox/tokens").json() == {"tokens": []}
    assert raw_graphql(shopify_sandbox.url, token, SHOP_QUERY).status_code == 401  # unknown again
    assert raw_graphql(shopify_sandbox.url, TOKEN, SHOP_QUERY).status_code == 200  # the configured token is kept
