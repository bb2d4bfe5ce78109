"""`pivot doctor` and `pivot setup` for HubSpot, against the HubSpot sandbox in a real subprocess.

Doctor is green on a fresh sandbox and names each problem (revoked token, missing scope, missing
key property, unreachable URL, clock, rate limit) with a fix; setup creates the missing key
properties once, changes nothing the second time or in a dry run (proved with the properties API
before and after); and the sandbox's new endpoints answer in HubSpot's wire shapes.
"""

from __future__ import annotations

import time
import typing
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from pivot.compensations.connections import using_connection
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.account_kit import API_CHECKS
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.account import CARRIERS, OBJECT_TYPES, REQUIRED_SCOPES, HubSpotAccount
from pivot.providers.hubspot.actions import BatchCreateParams, UpdatePropertiesParams, hubspot_actions
from pivot.providers.hubspot.client import HubSpotClient
from tests.sandbox.process import HUBSPOT_TOKEN, SandboxProcess, free_port, running_sandboxes

pytestmark = pytest.mark.anyio

TOKEN_ENV = "PIVOT_TEST_HUBSPOT_ACCOUNT_TOKEN"
ALL_CHECKS = set(API_CHECKS)
ALL_SCOPES = [*REQUIRED_SCOPES, "crm.schemas.contacts.write", "crm.schemas.deals.write"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with running_sandboxes(("hubspot",)) as handle:
        yield handle
        assert handle.stop() == 0, handle.stderr()


@pytest.fixture(scope="module")
def raw(server: SandboxProcess) -> Iterator[httpx.Client]:
    """Plays the HubSpot admin (and the test instruments), with the same token Pivot uses."""
    with httpx.Client(base_url=server.urls["hubspot"], headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
                      timeout=5) as client:
        yield client


@pytest.fixture
def hub(raw: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """A fresh sandbox (records, properties, token book) and the token in the environment."""
    raw.post("/_sandbox/reset").raise_for_status()
    monkeypatch.setenv(TOKEN_ENV, HUBSPOT_TOKEN)
    return raw


def client_for(url: str) -> HubSpotClient:
    return HubSpotClient(Endpoint(provider="hubspot", base_url=url, credential_env=TOKEN_ENV, timeout_s=2.0,
                                  label="HubSpot"))


@pytest.fixture
async def client(hub: httpx.Client, server: SandboxProcess) -> AsyncIterator[HubSpotClient]:
    hubspot = client_for(server.urls["hubspot"])
    yield hubspot
    await hubspot.http.aclose()


@pytest.fixture
def account(client: HubSpotClient) -> HubSpotAccount:
    return HubSpotAccount(client)


def by_name(checks: list[Any]) -> dict[str, Any]:
    assert len({c.name for c in checks}) == len(checks), "one check per name"
    return {c.name: c for c in checks}


def assert_explained(checks: list[Any]) -> None:
    """Every failing check says what is wrong and what to do; none names the token."""
    for check in checks:
        assert HUBSPOT_TOKEN not in check.detail and HUBSPOT_TOKEN not in check.fix
        assert check.provider == "hubspot" and check.detail
        if not check.ok:
            assert check.fix, check


def properties(hub: httpx.Client, object_type: str) -> list[dict[str, Any]]:
    response = hub.get(f"/crm/v3/properties/{object_type}")
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def all_properties(hub: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    return {object_type: properties(hub, object_type) for object_type in OBJECT_TYPES}


def remove_property(hub: httpx.Client, object_type: str, name: str) -> None:
    assert hub.delete(f"/_sandbox/properties/{object_type}/{name}").status_code == 204


def register(hub: httpx.Client, **rule: Any) -> None:
    assert hub.post("/_sandbox/tokens", json={"token": HUBSPOT_TOKEN, **rule}).status_code == 201, rule


# ===================================================================== doctor


async def test_doctor_is_green_on_a_fresh_sandbox(account: HubSpotAccount) -> None:
    checks = await account.checks()
    assert_explained(checks)
    assert {c.name for c in checks} == ALL_CHECKS
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    found = by_name(checks)
    assert TOKEN_ENV in found["credentials"].detail
    assert found["key carriers"].detail == "pivot_key (unique) and pivot_undo exist on contacts, deals"
    assert "left in the 10s window" in found["rate limit"].detail and "today" in found["rate limit"].detail


async def test_the_catalog_writes_only_the_object_types_setup_covers() -> None:
    literal_types = {typing.get_args(model.model_fields["object_type"].annotation)
                     for model in (BatchCreateParams, UpdatePropertiesParams)}
    assert literal_types == {OBJECT_TYPES}


async def test_a_revoked_token_fails_credentials_and_says_how_to_replace_it(
    hub: httpx.Client, account: HubSpotAccount
) -> None:
    register(hub, revoked=True)
    checks = await account.checks()
    assert_explained(checks)
    found = by_name(checks)
    assert found["credentials"].ok is False
    assert "refused the token in PIVOT_TEST_HUBSPOT_ACCOUNT_TOKEN (401 INVALID_AUTHENTICATION" in found[
        "credentials"].detail
    assert "Private Apps" in found["credentials"].fix and TOKEN_ENV in found["credentials"].fix
    assert found["scopes"].ok is False and found["scopes"].fix == "fix the credentials first"
    assert found["key carriers"].ok is False
    assert found["key carriers"].detail == "not checked: HubSpot refused the token"
    assert found["reachable"].ok and found["api version"].ok and found["clock"].ok and found["rate limit"].ok


async def test_a_missing_scope_is_named_with_what_needs_it(hub: httpx.Client, account: HubSpotAccount) -> None:
    register(hub, scopes=[s for s in ALL_SCOPES if s not in ("crm.objects.deals.write", "crm.schemas.deals.write")])
    checks = await account.checks()
    assert_explained(checks)
    found = by_name(checks)
    assert found["scopes"].ok is False
    assert "lacks crm.objects.deals.write (create, update and archive deals)" in found["scopes"].detail
    assert "crm.schemas.deals.write (pivot setup needs them only" in found["scopes"].detail
    assert "crm.objects.deals.write" in found["scopes"].fix and "crm.schemas.deals.write" not in found["scopes"].fix
    assert all(c.ok for c in checks if c.name != "scopes")
    # The sandbox refuses the deal write itself in HubSpot's 403 shape.
    refused = hub.post("/crm/v3/objects/deals", json={"properties": {"dealname": "x"}})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["context"] == {"requiredGranularScopes": ["crm.objects.deals.write"]}


async def test_no_schema_read_scope_makes_the_key_carriers_unknown(hub: httpx.Client, account: HubSpotAccount) -> None:
    register(hub, scopes=[s for s in ALL_SCOPES if s != "crm.schemas.contacts.read"])
    found = by_name(await account.checks())
    assert found["key carriers"].ok is False
    assert found["key carriers"].detail == "contacts properties cannot be read (the token lacks " \
        "crm.schemas.contacts.read)"
    assert "Scopes" in found["key carriers"].fix
    assert found["credentials"].ok and found["scopes"].ok is False


async def test_a_missing_key_property_is_named_and_setup_is_the_fix(hub: httpx.Client, account: HubSpotAccount) -> None:
    remove_property(hub, "contacts", "pivot_key")
    checks = await account.checks()
    assert_explained(checks)
    found = by_name(checks)
    assert found["key carriers"].ok is False
    assert found["key carriers"].detail == "contacts property pivot_key is missing"
    assert "pivot setup hubspot" in found["key carriers"].fix
    assert all(c.ok for c in checks if c.name != "key carriers")


async def test_a_property_that_is_not_unique_is_left_to_a_person(hub: httpx.Client, account: HubSpotAccount) -> None:
    remove_property(hub, "deals", "pivot_key")
    created = hub.post("/crm/v3/properties/deals", json={"name": "pivot_key", "label": "Key", "type": "string",
                                                          "fieldType": "text", "groupName": "dealinformation"})
    assert created.status_code == 201, created.text
    found = by_name(await account.checks())
    assert found["key carriers"].detail == "deals property pivot_key exists but does not require unique values"
    steps = {s.what: s for s in await account.setup(dry_run=False)}
    assert steps["deals property pivot_key"].state == "manual"
    assert "delete it" in steps["deals property pivot_key"].detail


async def test_an_unreachable_base_url_is_one_failing_check_naming_it(hub: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    closed = client_for(url)
    try:
        checks = await HubSpotAccount(closed).checks()
    finally:
        await closed.http.aclose()
    assert [(c.name, c.ok) for c in checks] == [("reachable", False)]
    assert url in checks[0].detail and checks[0].fix


async def test_no_credential_configured_is_one_failing_check(
    account: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    checks = await account.checks()
    assert [(c.name, c.ok) for c in checks] == [("credentials", False)]
    assert TOKEN_ENV in checks[0].detail and TOKEN_ENV in checks[0].fix


async def test_a_skewed_clock_fails_the_clock_check(client: HubSpotClient) -> None:
    found = by_name(await HubSpotAccount(client, clock=lambda: time.time() + 600).checks())
    assert found["clock"].ok is False
    assert "ahead of HubSpot's" in found["clock"].detail and "NTP" in found["clock"].fix


async def test_a_rate_limited_token_is_reported_not_raised(hub: httpx.Client, account: HubSpotAccount) -> None:
    hub.post("/_sandbox/faults", json={"method": "GET", "path": "/crm/v3/objects/contacts", "action": "rate_limit",
                                       "times": 1}).raise_for_status()
    found = by_name(await account.checks())
    assert set(found) == {"reachable", "rate limit"}
    assert found["reachable"].ok and found["rate limit"].ok is False
    assert "TEN_SECONDLY_ROLLING" in found["rate limit"].detail


# ===================================================================== setup


async def test_setup_on_a_fresh_sandbox_finds_everything_in_place(hub: httpx.Client, account: HubSpotAccount) -> None:
    before = all_properties(hub)
    for dry_run in (True, False):
        steps = await account.setup(dry_run=dry_run)
        assert [(s.what, s.state) for s in steps] == [
            (f"{t} property {c.name}", "exists") for t in OBJECT_TYPES for c in CARRIERS]
    assert all_properties(hub) == before


async def test_setup_creates_what_is_missing_once_and_dry_run_writes_nothing(
    hub: httpx.Client, account: HubSpotAccount
) -> None:
    remove_property(hub, "contacts", "pivot_key")
    remove_property(hub, "deals", "pivot_undo")
    before = all_properties(hub)

    planned = await account.setup(dry_run=True)
    assert {s.what: s.state for s in planned} == {
        "contacts property pivot_key": "would create", "contacts property pivot_undo": "exists",
        "deals property pivot_key": "exists", "deals property pivot_undo": "would create"}
    assert all_properties(hub) == before

    done = await account.setup(dry_run=False)
    assert {s.what: s.state for s in done} == {
        "contacts property pivot_key": "created", "contacts property pivot_undo": "exists",
        "deals property pivot_key": "exists", "deals property pivot_undo": "created"}
    after = all_properties(hub)
    key = next(p for p in after["contacts"] if p["name"] == "pivot_key")
    assert (key["type"], key["fieldType"], key["hasUniqueValue"], key["groupName"]) == (
        "string", "text", True, "contactinformation")
    undo = next(p for p in after["deals"] if p["name"] == "pivot_undo")
    assert (undo["type"], undo["fieldType"], undo["hasUniqueValue"]) == ("string", "textarea", False)

    again = await account.setup(dry_run=False)
    assert {s.state for s in again} == {"exists"}
    assert all_properties(hub) == after
    assert all(c.ok for c in await account.checks())


async def test_the_actions_need_the_key_property_that_setup_creates(
    hub: httpx.Client, client: HubSpotClient, account: HubSpotAccount
) -> None:
    action = next(a for a in hubspot_actions(client) if a.name == "hubspot.create_contact")
    params = action.params.model_validate({"email": "ada@example.com"})
    keys = StepKeys.derive("run-account-test", "contact", action.name)
    remove_property(hub, "contacts", "pivot_key")
    with pytest.raises(ProviderRejected):
        await action.forward(params, keys)
    await account.setup(dry_run=False)
    result = await action.forward(params, keys)
    assert result["email"] == "ada@example.com"


async def test_setup_without_the_schema_write_scope_says_how_to_do_it_by_hand(
    hub: httpx.Client, account: HubSpotAccount
) -> None:
    remove_property(hub, "contacts", "pivot_key")
    register(hub, scopes=[s for s in ALL_SCOPES if s != "crm.schemas.contacts.write"])
    before = all_properties(hub)
    steps = {s.what: s for s in await account.setup(dry_run=False)}
    manual = steps["contacts property pivot_key"]
    assert manual.state == "manual"
    assert "crm.schemas.contacts.write" in manual.detail
    assert "internal name pivot_key" in manual.detail and "Require unique values" in manual.detail
    assert all_properties(hub) == before


# ===================================================================== the sandbox's wire shapes


def test_properties_api_lists_reads_and_creates_in_hubspots_shape(hub: httpx.Client) -> None:
    listed = properties(hub, "contacts")
    assert {"email", "pivot_key", "pivot_undo"} <= {p["name"] for p in listed}
    key = hub.get("/crm/v3/properties/0-1/pivot_key")  # the object type id works too
    assert key.status_code == 200
    for field in ("name", "label", "type", "fieldType", "groupName", "hasUniqueValue", "description", "options",
                  "displayOrder", "calculated", "externalOptions", "hidden", "modificationMetadata", "formField",
                  "createdAt", "updatedAt", "archived"):
        assert field in key.json(), field
    missing = hub.get("/crm/v3/properties/contacts/favourite_colour")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"

    body = {"name": "favourite_colour", "label": "Favourite colour", "type": "string", "fieldType": "text",
            "groupName": "contactinformation"}
    created = hub.post("/crm/v3/properties/contacts", json=body)
    assert created.status_code == 201 and created.json()["name"] == "favourite_colour"
    taken = hub.post("/crm/v3/properties/contacts", json=body)
    assert taken.status_code == 409
    assert taken.json()["category"] == "OBJECT_ALREADY_EXISTS" and taken.json()["status"] == "error"
    bad_group = hub.post("/crm/v3/properties/contacts", json={**body, "name": "x_1", "groupName": "nope"})
    assert bad_group.status_code == 400 and bad_group.json()["category"] == "VALIDATION_ERROR"
    bad_unique = hub.post("/crm/v3/properties/contacts", json={**body, "name": "x_2", "fieldType": "textarea",
                                                                "hasUniqueValue": True})
    assert bad_unique.status_code == 400


def test_a_removed_carrier_is_refused_on_writes_like_hubspot_refuses_an_unknown_property(hub: httpx.Client) -> None:
    remove_property(hub, "contacts", "pivot_key")
    refused = hub.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com", "pivot_key": "k"}})
    assert refused.status_code == 400 and "PROPERTY_DOESNT_EXIST" in refused.json()["message"]
    lookup = hub.get("/crm/v3/objects/contacts/k", params={"idProperty": "pivot_key"})
    assert lookup.status_code == 400
    hub.post("/_sandbox/reset").raise_for_status()
    assert hub.get("/crm/v3/properties/contacts/pivot_key").status_code == 200  # reset restores it


def test_token_introspection_and_the_token_book(hub: httpx.Client, server: SandboxProcess) -> None:
    info = hub.post("/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": HUBSPOT_TOKEN})
    assert info.status_code == 200
    assert set(info.json()) == {"userId", "hubId", "appId", "scopes"}
    assert set(ALL_SCOPES) <= set(info.json()["scopes"])

    register(hub, scopes=["crm.objects.contacts.read"])
    assert hub.get("/_sandbox/tokens").json()["tokens"] == [
        {"token": HUBSPOT_TOKEN, "scopes": ["crm.objects.contacts.read"], "revoked": False}]
    narrowed = hub.post("/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": HUBSPOT_TOKEN})
    assert narrowed.json()["scopes"] == ["crm.objects.contacts.read"]
    assert hub.get("/crm/v3/objects/contacts").status_code == 200
    forbidden = hub.get("/crm/v3/properties/contacts")
    assert forbidden.status_code == 403
    assert forbidden.json()["category"] == "MISSING_SCOPES"
    assert forbidden.json()["errors"][0]["context"]["requiredGranularScopes"] == ["crm.schemas.contacts.read"]

    register(hub, revoked=True)
    revoked = hub.get("/crm/v3/objects/contacts")
    assert revoked.status_code == 401 and revoked.json()["category"] == "INVALID_AUTHENTICATION"
    gone = hub.post("/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": HUBSPOT_TOKEN})
    assert gone.status_code == 401

    hub.post("/_sandbox/reset").raise_for_status()  # reset clears the book
    assert hub.get("/_sandbox/tokens").json()["tokens"] == []
    assert hub.get("/crm/v3/objects/contacts").status_code == 200


async def test_doctor_follows_a_named_connection(hub: httpx.Client, server: SandboxProcess,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The default endpoint points nowhere; connection 'eu' points at the sandbox: every call
    (the token introspection's body included) goes to eu with eu's credential."""
    monkeypatch.setenv("PIVOT_CONNECTION__HUBSPOT__EU__BASE_URL", server.urls["hubspot"])
    monkeypatch.setenv("PIVOT_CONNECTION__HUBSPOT__EU__CREDENTIAL_ENV", "PIVOT_TEST_HUBSPOT_EU_TOKEN")
    monkeypatch.setenv("PIVOT_TEST_HUBSPOT_EU_TOKEN", "pat-eu-1")
    register(hub, token="pat-eu-1", scopes=[s for s in ALL_SCOPES if s != "crm.objects.deals.read"])
    nowhere = client_for(f"http://127.0.0.1:{free_port()}")
    try:
        with using_connection("eu"):
            found = by_name(await HubSpotAccount(nowhere).checks())
    finally:
        await nowhere.http.aclose()
    assert found["reachable"].ok and server.urls["hubspot"] in found["reachable"].detail
    assert found["credentials"].detail == "HubSpot accepted the token in PIVOT_TEST_HUBSPOT_EU_TOKEN"
    assert found["scopes"].ok is False and "crm.objects.deals.read" in found["scopes"].detail  # eu's token's scopes
    assert "pat-eu-1" not in found["scopes"].detail
