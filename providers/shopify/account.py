"""`pivot doctor` and `pivot setup` for a Shopify store, through the client the sagas use.

Pivot creates nothing in a store: a draft order carries its saga key in a tag and a custom
attribute (both free-form), a refund in `@idempotent(key:)` and its note, and completing a draft
or cancelling an order is one-way. What a store must grant is the app's access scopes, and no
API can grant a scope: `setup` names the scopes to add in the app's configuration and says to
reinstall the app, which is when the merchant grants them.

Everything doctor needs comes from one GraphQL document (`shop { name myshopifyDomain }` and
`currentAppInstallation { accessScopes { handle } }`, neither needing a scope): the body names
the shop and the granted scopes, `extensions.cost.throttleStatus` is the rate-limit bucket,
`X-Shopify-API-Version` is the version actually served (Shopify falls forward from a version it
no longer supports), and `Date` is Shopify's clock. The details name the environment variable
holding the token, never its value.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx

from pivot.providers.account_kit import AccountBase, Check, Probe, SetupStep
from pivot.providers.shopify.client import ShopifyClient

DOCTOR_QUERY = """
query PivotDoctor {
  shop { name myshopifyDomain }
  currentAppInstallation { accessScopes { handle } }
}
"""
MIN_API_VERSION = "2026-01"
"""The first version with `@idempotent(key:)`, which the refund action sends."""
REQUIRED_SCOPES: Mapping[str, str] = MappingProxyType({
    "write_draft_orders": "draftOrderCreate, draftOrderComplete, draftOrderDelete and the draft search: "
                          "create_draft_order, complete_draft_order and their undo",
    "write_orders": "order reads, orderCancel and refundCreate: complete_draft_order's undo, cancel_order, refund",
    "read_products": "the product variant on a draft order's lines, read back by create_draft_order",
    "write_inventory": "inventoryMoveQuantities and the inventory level read: reserve_inventory and its undo",
    "write_merchant_managed_fulfillment_orders": "fulfillment orders, fulfillmentCreate and fulfillmentCancel "
                                                 "(the shop's own locations): create_fulfillment and its undo",
})
"""What the catalog's Shopify actions run, scope by scope (Shopify's Admin GraphQL reference)."""
OPTIONAL_SCOPES: Mapping[str, str] = MappingProxyType({
    "read_all_orders": "cancel_order and refund on orders older than 60 days",
})
"""Needed only for some plans; doctor mentions them, never fails on them."""
LOW_BUCKET = 0.1
"""Below this share of the bucket, other clients are draining it and Pivot's calls will wait."""
CONFIGURE = ("a custom app made in the Shopify admin: Settings → Apps and sales channels → Develop apps → the app → "
             "Configuration → Admin API integration; an app made with the Shopify CLI: `scopes` under "
             "[access_scopes] in shopify.app.toml, then `shopify app deploy`")


def graphql_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer, or {} (Shopify's 401 and 404 bodies are objects too)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def top_level_codes(body: Mapping[str, Any]) -> list[str]:
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    return [str((error.get("extensions") or {}).get("code") or "ERROR") for error in errors if isinstance(error, dict)]


def allows(granted: list[str], scope: str) -> bool:
    """Whether `granted` covers `scope`; Shopify lists only `write_x` when it grants `read_x` too."""
    return scope in granted or (scope.startswith("read_") and f"write_{scope.removeprefix('read_')}" in granted)


class ShopifyAccount(AccountBase):
    """A Shopify store as `pivot setup` and `pivot doctor` see it."""

    provider = "shopify"
    label = "Shopify"

    def __init__(self, client: ShopifyClient, *, connection: str = "default") -> None:
        self.client = client
        self.connection = connection

    async def probe(self) -> Probe:
        return await self._probe_with(lambda: self.client.answer(DOCTOR_QUERY))

    def granted(self, response: httpx.Response) -> list[str] | None:
        """The app's access scope handles, or None when the answer does not list them."""
        data = graphql_body(response).get("data")
        installation = data.get("currentAppInstallation") if isinstance(data, dict) else None
        scopes = installation.get("accessScopes") if isinstance(installation, dict) else None
        if not isinstance(scopes, list):
            return None
        return [str(scope.get("handle")) for scope in scopes if isinstance(scope, dict)]

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        """Every check from one GraphQL request. With no answer at all, the one failing check says
        why (unreachable, or no token configured)."""
        probe = await self.probe()
        if probe.unreachable:
            return [self._check("reachable", False, probe.unreachable,
                                f"check the network and the shop's URL (PIVOT_SHOPIFY_BASE_URL, now {self.url})")]
        if probe.no_credential or probe.response is None:
            return [self._check("credentials", False, probe.no_credential,
                                f"set {self.credential_env} to the app's Admin API access token (shpat_…)")]
        response = probe.response
        identity = self._credentials(response)
        return [
            identity,
            self._scopes(identity.ok, self.granted(response)),
            self._check("key carriers", True, "none to create: a draft order carries the key in a tag and a custom "
                        "attribute, a refund and an inventory move in @idempotent(key:), a reservation and a "
                        "fulfillment in an app-owned shop metafield; completing and cancelling are one-way"),
            self._api_version(response),
            self._clock(response, probe.received_at),
            self._rate_limit(response),
            self._reachable(response),
        ]

    def _credentials(self, response: httpx.Response) -> Check:
        body = graphql_body(response)
        status = response.status_code
        data = body.get("data")
        shop = data.get("shop") if isinstance(data, dict) else None
        if status == 200 and isinstance(shop, dict):
            return self._check("credentials", True, f"the token in {self.credential_env} works for the shop "
                               f"{shop.get('name')} ({shop.get('myshopifyDomain')})")
        if status == 401:
            return self._check("credentials", False, f"Shopify refused the token in {self.credential_env} (401): "
                               "Invalid API key or access token: it is not a token of this shop, or it was "
                               "revoked, or the app was uninstalled",
                               f"install the app again (or reveal its Admin API access token) and put the token "
                               f"(shpat_…) in {self.credential_env}")
        reasons = {402: "the shop is frozen (unpaid)", 403: "the shop refuses this app", 404: "no such shop, or no "
                   f"API version {self.client.api_version} there", 423: "the shop is locked"}
        if status in reasons:
            return self._check("credentials", False, f"Shopify answered {status}: {reasons[status]}",
                               f"check the shop's URL (now {self.url}) and its status in the Shopify admin")
        codes = top_level_codes(body)
        what = ", ".join(codes) if codes else f"HTTP {status} without shop data"
        return self._check("credentials", False, f"Shopify did not say which shop the token belongs to ({what})",
                           f"point the base URL at https://<shop>.myshopify.com (now {self.url})")

    def _scopes(self, token_ok: bool, granted: list[str] | None) -> Check:
        if not token_ok:
            return self._check("scopes", False, "not checked: Shopify did not accept the token",
                               "fix the credentials first")
        if granted is None:
            return self._check("scopes", False, "Shopify did not list the app's access scopes",
                               "run pivot doctor again")
        missing = [scope for scope in REQUIRED_SCOPES if not allows(granted, scope)]
        optional = [f"{scope} ({why})" for scope, why in OPTIONAL_SCOPES.items() if not allows(granted, scope)]
        note = f"; not granted, needed only for some plans: {'; '.join(optional)}" if optional else ""
        if missing:
            needs = "; ".join(f"{scope}: {REQUIRED_SCOPES[scope]}" for scope in missing)
            return self._check("scopes", False, f"the app lacks {', '.join(missing)} ({needs}){note}",
                               f"add the access scopes {', '.join(missing)} ({CONFIGURE}), then install the app "
                               "again so that the merchant grants them")
        return self._check("scopes", True, f"granted: {', '.join(REQUIRED_SCOPES)}{note}")

    def _api_version(self, response: httpx.Response) -> Check:
        asked = self.client.api_version
        served = response.headers.get("x-shopify-api-version")
        if response.status_code == 404:
            return self._check("api version", False, f"Shopify serves no Admin API {asked} at {self.url} (404)",
                               f"use a supported version ({MIN_API_VERSION} or later) and check the shop's URL")
        if served is not None and served != asked:
            return self._check("api version", False, f"Pivot asked for {asked}, Shopify served {served}: {asked} is "
                               "no longer supported", "upgrade Pivot to a client that speaks a supported version")
        if asked < MIN_API_VERSION:
            return self._check("api version", False, f"{asked} predates @idempotent(key:) ({MIN_API_VERSION}), "
                               "which the refund action sends", f"use {MIN_API_VERSION} or later")
        if served is None:
            return self._check("api version", False, "Shopify's answer had no X-Shopify-API-Version header",
                               f"point the base URL at https://<shop>.myshopify.com (now {self.url})")
        return self._check("api version", True, f"Shopify serves {served}, the version Pivot speaks")

    def _clock(self, response: httpx.Response, received_at: float) -> Check:
        return self._clock_check(response.headers.get("date"), received_at)

    def _rate_limit(self, response: httpx.Response) -> Check:
        body = graphql_body(response)
        cost = (body.get("extensions") or {}).get("cost") if isinstance(body.get("extensions"), dict) else None
        bucket = cost.get("throttleStatus") if isinstance(cost, dict) else None
        if "THROTTLED" in top_level_codes(body) or response.status_code == 429:
            return self._check("rate limit", False, "Shopify throttled the request: the app's bucket is empty",
                               "wait; if it persists, look for another client of this app draining the bucket")
        if not isinstance(bucket, dict):
            return self._check("rate limit", True, "not checked: the answer carried no extensions.cost")
        available, maximum = float(bucket.get("currentlyAvailable", 0)), float(bucket.get("maximumAvailable", 0))
        level = (f"{available:g} of {maximum:g} points available in the app's bucket, refilling "
                 f"{float(bucket.get('restoreRate', 0)):g}/s")
        if maximum > 0 and available < LOW_BUCKET * maximum:
            return self._check("rate limit", False, f"only {level}", "find the other client of this app that is "
                               "draining the bucket; Pivot's calls will wait for it to refill")
        return self._check("rate limit", True, level)

    def _reachable(self, response: httpx.Response) -> Check:
        if response.status_code >= 500:
            return self._check("reachable", False, f"Shopify answered HTTP {response.status_code} at {self.url}",
                               "try again later; see https://www.shopifystatus.com")
        return self._check("reachable", True, f"Shopify answered at {self.url}")

    # ------------------------------------------------------------------ setup

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Nothing to create (so `dry_run` changes nothing): the granted scopes are `exists`, each
        missing one a `manual` step naming it, then one step to install the app again."""
        steps = [
            self._step("key carrier: draft order tag and custom attribute pivot_key", "exists",
                       "nothing to create: tags and custom attributes are free-form"),
            self._step("key carrier: refundCreate @idempotent(key:)", "exists",
                       f"nothing to create: Shopify keeps the keys (API {MIN_API_VERSION} or later)"),
        ]
        probe = await self.probe()
        identity = self._credentials(probe.response) if probe.response is not None else None
        granted = self.granted(probe.response) if probe.response is not None and identity and identity.ok else None
        if granted is None:
            reason = (identity.detail if identity is not None and not identity.ok else
                      probe.unreachable or probe.no_credential or "Shopify did not list them")
            steps.append(self._step("app access scopes", "manual",
                                    f"could not read the app's access scopes ({reason}); make sure the app has "
                                    f"{', '.join(REQUIRED_SCOPES)} ({CONFIGURE}), and run pivot doctor"))
            return steps
        missing = [scope for scope in REQUIRED_SCOPES if not allows(granted, scope)]
        for scope, why in REQUIRED_SCOPES.items():
            if scope in missing:
                steps.append(self._step(f"access scope {scope}", "manual", f"add {scope} to the app ({CONFIGURE}); "
                                        f"it is needed for {why}"))
            else:
                steps.append(self._step(f"access scope {scope}", "exists", f"granted ({why})"))
        if missing:
            steps.append(self._step("install the app again", "manual",
                                    f"Shopify grants {', '.join(missing)} only when the merchant approves the "
                                    f"updated app; if it shows a new Admin API access token, put it in "
                                    f"{self.credential_env}"))
        return steps
