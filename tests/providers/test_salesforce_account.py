"""`pivot doctor` and `pivot setup` for Salesforce, against the Salesforce sandbox in a real subprocess.

Doctor is green on a fresh sandbox and names each problem (revoked token, missing object or API
permission, missing or hidden key field, unreachable URL, clock, API usage, version) with a fix;
setup creates a missing `Pivot_Key__c` once through the Tooling API, changes nothing the second
time or in a dry run (proved with describe and a Tooling query before and after), and leaves
field-level security to a person; and the sandbox's new endpoints answer in Salesforce's shapes.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from pivot.compensations.connections import using_connection
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.account_kit import API_CHECKS
from pivot.providers.http import Endpoint
from pivot.providers.salesforce.account import DEFAULT_SOBJECTS, SalesforceAccount
from pivot.providers.salesforce.actions import salesforce_actions
from pivot.providers.salesforce.client import SalesforceClient
from tests.providers.salesforce_fixtures import API, TOKEN
from tests.sandbox.process import SandboxProcess, free_port, running_sandboxes

pytestmark = pytest.mark.anyio

TOKEN_ENV = "PIVOT_TEST_SALESFORCE_ACCOUNT_TOKEN"
ALL_CHECKS = set(API_CHECKS)
EVERY_PERMISSION = ["api", *(f"{s}:{p}" for s in DEFAULT_SOBJECTS for p in ("read", "create", "edit", "delete"))]
KEY_QUERY = ("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = 'Pivot_Key' "
             "AND EntityDefinition.QualifiedApiName = '{}'")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxProcess]:
    with running_sandboxes(("salesforce",)) as handle:
        yield handle
        assert handle.stop() == 0, handle.stderr()


@pytest.fixture(scope="module")
def raw(server: SandboxProcess) -> Iterator[httpx.Client]:
    """Plays the org's admin (and the test instruments), with the same token Pivot uses."""
    with httpx.Client(base_url=server.urls["salesforce"], headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=5) as client:
        yield client


@pytest.fixture
def org(raw: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """A fresh sandbox (records, fields, token book) and the token in the environment."""
    raw.post("/_sandbox/reset").raise_for_status()
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return raw


def client_for(url: str) -> SalesforceClient:
    return SalesforceClient(Endpoint(provider="salesforce", base_url=url, credential_env=TOKEN_ENV, timeout_s=2.0,
                                     label="Salesforce"))


@pytest.fixture
async def client(org: httpx.Client, server: SandboxProcess) -> AsyncIterator[SalesforceClient]:
    salesforce = client_for(server.urls["salesforce"])
    yield salesforce
    await salesforce.http.aclose()


@pytest.fixture
def account(client: SalesforceClient) -> SalesforceAccount:
    return SalesforceAccount(client)


def by_name(checks: list[Any]) -> dict[str, Any]:
    assert_explained(checks)
    assert len({c.name for c in checks}) == len(checks), "one check per name"
    return {c.name: c for c in checks}


def assert_explained(checks: list[Any]) -> None:
    """Every failing check says what is wrong and what to do; none names the token."""
    for check in checks:
        assert TOKEN not in check.detail and TOKEN not in check.fix
        assert check.provider == "salesforce" and check.detail
        if not check.ok:
            assert check.fix, check


def describe(org: httpx.Client, sobject: str) -> dict[str, Any]:
    response = org.get(f"{API}/sobjects/{sobject}/describe")
    assert response.status_code == 200, response.text
    return dict(response.json())


def key_field(org: httpx.Client, sobject: str) -> dict[str, Any] | None:
    return next((f for f in describe(org, sobject)["fields"] if f["name"] == "Pivot_Key__c"), None)


def tooling_keys(org: httpx.Client, sobject: str) -> list[dict[str, Any]]:
    response = org.get(f"{API}/tooling/query", params={"q": KEY_QUERY.format(sobject)})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def org_state(org: httpx.Client) -> dict[str, Any]:
    """What setup could change: every describe and every Pivot_Key CustomField the Tooling API knows."""
    return {s: (describe(org, s), tooling_keys(org, s)) for s in DEFAULT_SOBJECTS}


def register(org: httpx.Client, **rule: Any) -> None:
    assert org.post("/_sandbox/tokens", json={"token": TOKEN, **rule}).status_code == 201


def grant_field_security(org: httpx.Client, sobject: str, visible: bool = True) -> None:
    response = org.patch(f"/_sandbox/fields/{sobject}/Pivot_Key__c", json={"visible": visible})
    assert response.status_code == 200, response.text


def remove_key_field(org: httpx.Client, sobject: str) -> None:
    assert org.delete(f"/_sandbox/fields/{sobject}/Pivot_Key__c").status_code == 204


# ===================================================================== doctor


async def test_doctor_is_green_on_a_fresh_sandbox(account: SalesforceAccount) -> None:
    checks = await account.checks()
    found = by_name(checks)
    assert set(found) == ALL_CHECKS
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert found["key carriers"].detail == "Pivot_Key__c (External ID, Unique) on Account, Contact, Opportunity"
    assert found["api version"].detail == "v60.0 is served (newest: v62.0)"
    assert re.fullmatch(r"\d+ of 5000 API requests used in the last 24 hours", found["rate limit"].detail)


async def test_the_sobjects_to_cover_are_configurable(client: SalesforceClient) -> None:
    found = by_name(await SalesforceAccount(client, ["Lead", "Invoice__c", "Lead"]).checks())
    assert found["key carriers"].detail == "Pivot_Key__c (External ID, Unique) on Lead, Invoice__c"
    with pytest.raises(ValueError, match="not sObject API names"):
        SalesforceAccount(client, ["Account; DROP"])


async def test_a_revoked_token_fails_credentials_and_says_how_to_replace_it(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    register(org, revoked=True)
    found = by_name(await account.checks())
    assert found["credentials"].ok is False
    assert found["credentials"].detail == (f"Salesforce refused the token in {TOKEN_ENV} (401 INVALID_SESSION_ID: "
                                           "Session expired or invalid)")
    assert TOKEN_ENV in found["credentials"].fix
    assert found["scopes"].detail == "not checked: Salesforce refused the token"
    assert found["key carriers"].fix == "fix the credentials first"
    assert found["reachable"].ok and found["api version"].ok and found["clock"].ok


async def test_a_missing_object_permission_is_named_with_what_needs_it(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    register(org, scopes=[p for p in EVERY_PERMISSION if p not in ("Opportunity:delete", "Contact:read")])
    found = by_name(await account.checks())
    assert found["scopes"].ok is False
    assert "Opportunity: the integration user lacks Delete (Delete: undo a create" in found["scopes"].detail
    assert "Contact does not exist for the integration user (no Read permission" in found["scopes"].detail
    assert "grant Delete on Opportunity" in found["scopes"].fix and "Object Settings → Contact" in found["scopes"].fix
    assert found["credentials"].ok and found["rate limit"].ok
    assert describe(org, "Opportunity")["deletable"] is False  # the sandbox's describe says so too
    assert org.get(f"{API}/sobjects/Contact/describe").status_code == 404


async def test_a_user_without_api_access_gets_salesforces_403_and_doctor_names_it(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    register(org, scopes=[p for p in EVERY_PERMISSION if p != "api"])
    refused = org.get(f"{API}/sobjects/Account/describe")
    assert refused.status_code == 403
    assert refused.json() == [{"message": "The REST API is not enabled for this Organization.",
                               "errorCode": "API_DISABLED_FOR_ORG"}]
    found = by_name(await account.checks())
    assert found["credentials"].ok is True
    assert found["scopes"].detail == "the integration user may not use the API (API_DISABLED_FOR_ORG)"
    assert "API Enabled" in found["scopes"].fix


async def test_a_missing_key_field_is_named_and_setup_is_the_fix(org: httpx.Client, account: SalesforceAccount) -> None:
    remove_key_field(org, "Contact")
    checks = await account.checks()
    found = by_name(checks)
    assert found["key carriers"].detail == "Contact.Pivot_Key__c is missing"
    assert "pivot setup salesforce --sobjects Account,Contact,Opportunity" in found["key carriers"].fix
    assert all(c.ok for c in checks if c.name != "key carriers")


async def test_a_hidden_key_field_is_a_field_level_security_fix(org: httpx.Client, account: SalesforceAccount) -> None:
    grant_field_security(org, "Opportunity", visible=False)
    found = by_name(await account.checks())
    assert found["key carriers"].detail == ("Opportunity.Pivot_Key__c exists, but field-level security hides it "
                                            "from the integration user")
    assert "Set Field-Level Security" in found["key carriers"].fix
    steps = {s.what: s for s in await account.setup(dry_run=False)}
    assert steps["Opportunity field Pivot_Key__c"].state == "exists"
    assert steps["Opportunity field-level security of Pivot_Key__c"].state == "manual"


async def test_a_key_field_that_is_not_unique_is_left_to_a_person(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    remove_key_field(org, "Account")
    created = org.post(f"{API}/tooling/sobjects/CustomField", json={
        "FullName": "Account.Pivot_Key__c", "Metadata": {"type": "Text", "length": 80, "label": "Key"}})
    assert created.status_code == 201, created.text
    grant_field_security(org, "Account")
    found = by_name(await account.checks())
    assert found["key carriers"].detail.startswith("Account.Pivot_Key__c exists but is not a Text field marked "
                                                   "External ID and Unique")
    assert "tick Unique and External ID" in found["key carriers"].fix
    steps = {s.what: s for s in await account.setup(dry_run=False)}
    assert steps["Account field Pivot_Key__c"].state == "manual"


async def test_an_unreachable_base_url_is_one_failing_check_naming_it(org: httpx.Client) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    closed = client_for(url)
    try:
        checks = await SalesforceAccount(closed).checks()
    finally:
        await closed.http.aclose()
    assert [(c.name, c.ok) for c in checks] == [("reachable", False)]
    assert url in checks[0].detail and checks[0].fix


async def test_no_credential_configured_is_one_failing_check(
    account: SalesforceAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    checks = await account.checks()
    assert [(c.name, c.ok) for c in checks] == [("credentials", False)]
    assert TOKEN_ENV in checks[0].detail and TOKEN_ENV in checks[0].fix


async def test_a_skewed_clock_fails_the_clock_check(client: SalesforceClient) -> None:
    found = by_name(await SalesforceAccount(client, clock=lambda: time.time() - 600).checks())
    assert found["clock"].ok is False
    assert "behind Salesforce's" in found["clock"].detail and "NTP" in found["clock"].fix


async def test_versions_that_do_not_list_pivots_fail_the_api_version_check(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    org.post("/_sandbox/faults", json={"method": "GET", "path": "/services/data/", "action": "error",
                                       "status": 404, "times": 1}).raise_for_status()
    found = by_name(await account.checks())
    assert found["api version"].ok is False
    assert "did not list API versions (HTTP 404)" in found["api version"].detail
    assert "my.salesforce.com" in found["api version"].fix


@pytest.mark.parametrize(("header", "ok"), [("api-usage=4499/5000", True), ("api-usage=4500/5000", False)])
def test_api_usage_near_the_daily_limit_fails_the_rate_limit_check(header: str, ok: bool) -> None:
    account = SalesforceAccount(client_for("http://127.0.0.1:9"))
    check = account._rate_limit(httpx.Response(200, headers={"Sforce-Limit-Info": header}), "http://x")
    assert check.ok is ok
    assert check.detail.endswith(f"{header[10:].replace('/', ' of ')} API requests used in the last 24 hours")
    assert ok or "24 hours" in check.fix


# ===================================================================== setup


async def test_setup_on_a_fresh_sandbox_finds_everything_in_place(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    before = org_state(org)
    for dry_run in (True, False):
        steps = await account.setup(dry_run=dry_run)
        assert [(s.what, s.state) for s in steps] == [(f"{s} field Pivot_Key__c", "exists") for s in DEFAULT_SOBJECTS]
    assert org_state(org) == before


async def test_setup_creates_a_missing_field_once_and_dry_run_writes_nothing(
    org: httpx.Client, account: SalesforceAccount
) -> None:
    remove_key_field(org, "Account")
    before = org_state(org)
    assert before["Account"][1] == []

    planned = await account.setup(dry_run=True)
    assert [(s.what, s.state) for s in planned] == [
        ("Account field Pivot_Key__c", "would create"), ("Account field-level security of Pivot_Key__c", "manual"),
        ("Contact field Pivot_Key__c", "exists"), ("Opportunity field Pivot_Key__c", "exists")]
    assert "tooling/sobjects/CustomField" in planned[0].detail
    assert org_state(org) == before

    done = await account.setup(dry_run=False)
    assert [(s.what, s.state) for s in done] == [
        ("Account field Pivot_Key__c", "created"), ("Account field-level security of Pivot_Key__c", "manual"),
        ("Contact field Pivot_Key__c", "exists"), ("Opportunity field Pivot_Key__c", "exists")]
    assert "Set Field-Level Security" in done[1].detail
    after = org_state(org)
    assert [r["DeveloperName"] for r in after["Account"][1]] == ["Pivot_Key"]
    assert key_field(org, "Account") is None  # a new field is visible to no profile yet

    again = await account.setup(dry_run=False)
    assert [(s.what, s.state) for s in again] == [
        ("Account field Pivot_Key__c", "exists"), ("Account field-level security of Pivot_Key__c", "manual"),
        ("Contact field Pivot_Key__c", "exists"), ("Opportunity field Pivot_Key__c", "exists")]
    assert org_state(org) == after

    grant_field_security(org, "Account")  # the admin follows the manual step
    field = key_field(org, "Account")
    assert field is not None
    assert (field["type"], field["length"], field["externalId"], field["unique"], field["custom"]) == (
        "string", 255, True, True, True)
    assert all(c.ok for c in await account.checks())
    assert {s.state for s in await account.setup(dry_run=False)} == {"exists"}


async def test_the_actions_need_the_key_field_that_setup_creates(
    org: httpx.Client, client: SalesforceClient, account: SalesforceAccount
) -> None:
    action = next(a for a in salesforce_actions(client) if a.name == "salesforce.create_record")
    params = action.params.model_validate({"sobject": "Account", "fields": {"Name": "Acme"}})
    keys = StepKeys.derive("run-account-test", "account", action.name)
    remove_key_field(org, "Account")
    with pytest.raises(ProviderRejected):
        await action.forward(params, keys)
    await account.setup(dry_run=False)
    grant_field_security(org, "Account")
    result = await action.forward(params, keys)
    assert result["sobject"] == "Account" and result["fields"] == {"Name": "Acme"}


# ===================================================================== the sandbox's wire shapes


def test_versions_resources_and_unknown_versions(org: httpx.Client, server: SandboxProcess) -> None:
    versions = httpx.get(f"{server.urls['salesforce']}/services/data/")  # no token needed, as in a real org
    assert versions.status_code == 200
    listed = versions.json()
    assert listed[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in listed
    resources = org.get(f"{API}/")
    assert resources.status_code == 200
    assert resources.json()["sobjects"] == f"{API}/sobjects" and resources.json()["tooling"] == f"{API}/tooling"
    assert re.fullmatch(r"api-usage=\d+/5000", resources.headers["Sforce-Limit-Info"])
    unknown = org.get("/services/data/v99.0/sobjects/Account/describe")
    assert unknown.status_code == 404 and unknown.json()[0]["errorCode"] == "NOT_FOUND"


def test_describe_lists_fields_with_their_flags(org: httpx.Client) -> None:
    body = describe(org, "Opportunity")
    for name in ("name", "label", "keyPrefix", "custom", "createable", "updateable", "deletable", "queryable",
                 "retrieveable", "fields", "urls"):
        assert name in body, name
    assert (body["name"], body["keyPrefix"], body["createable"], body["deletable"]) == ("Opportunity", "006", True,
                                                                                       True)
    fields = {f["name"]: f for f in body["fields"]}
    assert {"Id", "Name", "StageName", "CloseDate", "Pivot_Key__c"} <= set(fields)
    assert fields["Id"]["createable"] is False and fields["Id"]["idLookup"] is True
    key = fields["Pivot_Key__c"]
    assert (key["type"], key["externalId"], key["unique"], key["idLookup"], key["createable"]) == (
        "string", True, True, True, True)
    assert org.get(f"{API}/sobjects/Widget/describe").status_code == 404


def test_tooling_custom_field_create_duplicate_and_query(org: httpx.Client) -> None:
    remove_key_field(org, "Lead")
    metadata = {"type": "Text", "length": 255, "externalId": True, "unique": True, "label": "Pivot Key"}
    created = org.post(f"{API}/tooling/sobjects/CustomField",
                       json={"FullName": "Lead.Pivot_Key__c", "Metadata": metadata})
    assert created.status_code == 201
    body = created.json()
    assert re.fullmatch(r"00N[A-Za-z0-9]{15}", body["id"])
    assert {k: v for k, v in body.items() if k != "id"} == {"success": True, "errors": [], "warnings": [],
                                                            "infos": []}
    duplicate = org.post(f"{API}/tooling/sobjects/CustomField",
                         json={"FullName": "Lead.Pivot_Key__c", "Metadata": metadata})
    assert duplicate.status_code == 400
    assert duplicate.json() == [{"message": "duplicate value found: <unknown> duplicates value on record with id: "
                                            "<unknown>", "errorCode": "DUPLICATE_VALUE", "fields": []}]
    queried = org.get(f"{API}/tooling/query", params={"q": KEY_QUERY.format("Lead")}).json()
    assert (queried["size"], queried["totalSize"], queried["done"], queried["entityTypeName"]) == (
        1, 1, True, "CustomField")
    assert queried["records"] == [{
        "attributes": {"type": "CustomField", "url": f"{API}/tooling/sobjects/CustomField/{body['id']}"},
        "Id": body["id"], "DeveloperName": "Pivot_Key", "TableEnumOrId": "Lead"}]
    # Hidden by field-level security until granted: records may not use it yet.
    hidden = org.post(f"{API}/sobjects/Lead", json={"LastName": "L", "Company": "C", "Pivot_Key__c": "k"})
    assert hidden.status_code == 400 and hidden.json()[0]["errorCode"] == "INVALID_FIELD"
    lookup = org.get(f"{API}/sobjects/Lead/Pivot_Key__c/k")
    assert lookup.status_code == 404
    malformed = org.get(f"{API}/tooling/query", params={"q": "SELECT Id FROM ApexClass"})
    assert malformed.status_code == 400 and malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_the_token_book_and_reset(org: httpx.Client) -> None:
    register(org, revoked=True)
    revoked = org.get(f"{API}/sobjects/Account/describe")
    assert revoked.status_code == 401
    assert revoked.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert org.get("/_sandbox/tokens").json()["tokens"] == [{"token": TOKEN, "scopes": None, "revoked": True}]
    remove_key_field(org, "Account")
    org.post("/_sandbox/reset").raise_for_status()  # clears the book, restores the fields
    assert org.get("/_sandbox/tokens").json()["tokens"] == []
    assert key_field(org, "Account") is not None


async def test_doctor_and_setup_follow_a_named_connection(org: httpx.Client, server: SandboxProcess,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The default endpoint points nowhere; connection 'eu' points at the sandbox with its own token."""
    monkeypatch.setenv("PIVOT_CONNECTION__SALESFORCE__EU__BASE_URL", server.urls["salesforce"])
    monkeypatch.setenv("PIVOT_CONNECTION__SALESFORCE__EU__CREDENTIAL_ENV", "PIVOT_TEST_SALESFORCE_EU_TOKEN")
    monkeypatch.setenv("PIVOT_TEST_SALESFORCE_EU_TOKEN", "00Deu!eu-token")
    register(org, token="00Deu!eu-token", scopes=[p for p in EVERY_PERMISSION if p != "Contact:edit"])
    remove_key_field(org, "Opportunity")
    nowhere = client_for(f"http://127.0.0.1:{free_port()}")
    try:
        with using_connection("eu"):
            found = by_name(await SalesforceAccount(nowhere).checks())
            steps = await SalesforceAccount(nowhere).setup(dry_run=False)
    finally:
        await nowhere.http.aclose()
    assert found["reachable"].ok and server.urls["salesforce"] in found["reachable"].detail
    assert found["credentials"].detail == "Salesforce accepted the token in PIVOT_TEST_SALESFORCE_EU_TOKEN"
    assert found["scopes"].detail.startswith("Contact: the integration user lacks Edit")  # eu's token's permissions
    assert found["key carriers"].detail == "Opportunity.Pivot_Key__c is missing"
    assert ("Opportunity field Pivot_Key__c", "created") in [(s.what, s.state) for s in steps]
    assert [r["DeveloperName"] for r in tooling_keys(org, "Opportunity")] == ["Pivot_Key"]
