"""`pivot doctor` and `pivot setup` for Stripe against the Stripe sandbox, and the sandbox's side of it.

The sandbox's token book (`/_sandbox/tokens`) revokes a key or makes it a restricted key with a
list of `rak_…` permissions; the account must then name the problem and its fix without writing
anything, and the catalog must run with exactly the permissions doctor asks for. The sandbox's
new answers (the account object, the 401 and 403, the updates the probes use) are validated
against the operations of Stripe's full OpenAPI spec (/work/shared/specs; skipped without it),
trimmed and closed the way tests/data/openapi/trim.py and the conformance tests do it.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from pivot.compensations.keys import StepKeys
from pivot.providers.account_kit import API_CHECKS
from pivot.providers.http import Endpoint
from pivot.providers.stripe.account import WRITTEN, StripeAccount
from pivot.providers.stripe.actions import stripe_actions
from pivot.providers.stripe.client import STRIPE_VERSION, StripeClient
from pivot.providers.stripe.sandbox import ACCOUNT_ID, SEED_CUSTOMER_ID
from tests.providers.account_helpers import assert_no_secret, by_name
from tests.providers.test_conformance import closed_objects, pointer
from tests.sandbox.process import STRIPE_KEY, free_port

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

KEY_ENV = "PIVOT_TEST_STRIPE_KEY"
"""Where the catalog fixtures put the key (the `sandbox` fixture sets it)."""
ALL_CHECKS = list(API_CHECKS)
REQUIRED = [resource.permission for resource in WRITTEN]
ROOT = Path(__file__).resolve().parents[2]
STRIPE_SPEC = ROOT.parent / "shared" / "specs" / "stripe" / "spec3.yaml"
SPEC_URI = "urn:pivot:openapi:stripe-account"
OPERATIONS = [("/v1/account", "get"), ("/v1/invoiceitems/{invoiceitem}", "post"),
              ("/v1/payment_intents/{intent}", "post"), ("/v1/refunds/{refund}", "post")]


def client_for(url: str) -> StripeClient:
    return StripeClient(Endpoint(provider="stripe", base_url=url, credential_env=KEY_ENV, timeout_s=1.0,
                                 label="Stripe"))


def register(sandbox: Boxes, **rule: Any) -> None:
    response = sandbox.stripe.raw.post("/_sandbox/tokens", json=rule)
    assert response.status_code == 201, response.text


def new_key(kind: str) -> str:
    return f"{kind}_{uuid.uuid4().hex[:16]}"




def call(sandbox: Boxes, method: str, path: str, key: str, data: dict[str, str] | None = None) -> httpx.Response:
    return httpx.request(method, f"{sandbox.stripe.url}{path}", data=data, timeout=5,
                         headers={"Authorization": f"Bearer {key}", "Stripe-Version": STRIPE_VERSION})


@pytest.fixture
async def key_client(sandbox: Boxes) -> AsyncIterator[StripeClient]:
    """A client reading its key from the environment, for tests that set their own key there."""
    client = client_for(sandbox.stripe.url)
    yield client
    await client.http.aclose()


def use_key(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv(KEY_ENV, key)


# --------------------------------------------------------------------------- the spec


def _trim_module() -> Any:
    location = ROOT / "tests" / "data" / "openapi" / "trim.py"
    module_spec = importlib.util.spec_from_file_location("pivot_openapi_trim", location)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@cache
def account_spec() -> dict[str, Any]:
    """The operations above with every schema they reach, trimmed like trim.py, objects closed."""
    yaml = pytest.importorskip("yaml")
    if not STRIPE_SPEC.exists():
        pytest.skip(f"{STRIPE_SPEC} is not here")
    trim = _trim_module()
    full = yaml.load(STRIPE_SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        paths.setdefault(path, {})[method] = full["paths"][path][method]
    document = {"paths": paths, "components": {"schemas": trim.closure(full, paths, "#/components/schemas/")}}
    trimmed: dict[str, Any] = closed_objects(trim.nullable_to_anyof(trim.strip_docs(document)))
    return trimmed


def response_errors(path: str, method: str, status: int, body: Any) -> list[str]:
    operation = account_spec()["paths"][path][method]
    which = str(status) if str(status) in operation["responses"] else "default"
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(account_spec(),
                                                                         default_specification=DRAFT4))
    schema = {"$ref": SPEC_URI + pointer("paths", path, method, "responses", which, "content", "application/json",
                                         "schema")}
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
            for e in validator.iter_errors(body)]


# --------------------------------------------------------------------------- doctor


async def test_doctor_is_all_green_against_a_fresh_sandbox(stripe_client: StripeClient, sandbox: Boxes) -> None:
    checks = await StripeAccount(stripe_client).checks()

    assert [check.name for check in checks] == ALL_CHECKS
    assert [check for check in checks if not check.ok] == []
    found = by_name(checks)
    assert ACCOUNT_ID in found["credentials"].detail and "a test-mode secret key" in found["credentials"].detail
    assert "charges are enabled" in found["credentials"].detail
    assert STRIPE_VERSION in found["api version"].detail
    assert_no_secret(checks, STRIPE_KEY, tail=6)
    assert sandbox.stripe.effects() == []  # the write probes wrote nothing


async def test_a_revoked_key_fails_the_credentials_and_says_what_to_do(
    key_client: StripeClient, sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key("sk_test")
    register(sandbox, token=key, revoked=True)
    use_key(monkeypatch, key)

    checks = by_name(await StripeAccount(key_client).checks())

    credentials = checks["credentials"]
    assert not credentials.ok and "expired" in credentials.detail and "401" in credentials.detail
    assert KEY_ENV in credentials.fix and "dashboard.stripe.com/apikeys" in credentials.fix
    assert not checks["scopes"].ok and checks["scopes"].detail.startswith("not checked")
    assert checks["reachable"].ok and checks["clock"].ok and checks["api version"].ok
    assert_no_secret(list(checks.values()), key, tail=6)


async def test_a_restricted_key_without_a_permission_is_named_without_writing(
    key_client: StripeClient, sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key("rk_test")
    register(sandbox, token=key, scopes=[p for p in REQUIRED if p != "rak_refund_write"])
    use_key(monkeypatch, key)

    checks = by_name(await StripeAccount(key_client).checks())

    assert checks["credentials"].ok  # a restricted key may not read the account; it still works
    assert "a test-mode restricted key of account " + ACCOUNT_ID in checks["credentials"].detail
    permissions = checks["scopes"]
    assert not permissions.ok
    assert permissions.detail.startswith("the key may not write refunds (rak_refund_write: ")
    assert "set Refunds to Write" in permissions.fix
    assert_no_secret(list(checks.values()), key, tail=6)
    assert sandbox.stripe.effects() == []


async def test_the_required_permissions_are_enough_for_every_stripe_action(
    key_client: StripeClient, sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctor's list is not a guess: a restricted key with exactly those permissions runs the catalog."""
    key = new_key("rk_test")
    register(sandbox, token=key, scopes=REQUIRED)
    use_key(monkeypatch, key)
    actions = {action.name: action for action in stripe_actions(key_client)}

    async def step(name: str, params: dict[str, Any], *, undo: bool = False) -> dict[str, Any]:
        action = actions[name]
        keys = StepKeys.derive(f"test-{uuid.uuid4().hex[:12]}", "step", name)
        model = action.params.model_validate(params)
        result = await action.forward(model, keys)
        if undo:
            assert action.compensate is not None
            await action.compensate(model, keys, result)
        return result

    assert all(check.ok for check in await StripeAccount(key_client).checks())
    await step("stripe.create_customer", {"email": "rak@example.com", "name": "Rak"}, undo=True)
    invoice_params = {"customer": SEED_CUSTOMER_ID, "lines": [{"amount": 1200, "currency": "usd", "description": "a"}]}
    await step("stripe.create_invoice", invoice_params, undo=True)
    invoice = await step("stripe.create_invoice", invoice_params)
    await step("stripe.send_invoice", {"invoice": invoice["id"]})
    charge = await step("stripe.charge", {"amount": 5000, "currency": "usd", "customer": SEED_CUSTOMER_ID,
                                          "payment_method": "pm_card_visa"})
    await step("stripe.refund", {"payment_intent": charge["id"], "amount": 1000})
    ops = {(effect["op"], effect["object"]) for effect in sandbox.stripe.effects()}
    assert {("create", "customer"), ("delete", "customer"), ("create", "refund")} <= ops


async def test_an_unreachable_base_url_is_one_failing_check_naming_it(sandbox: Boxes) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = client_for(url)
    try:
        account = StripeAccount(client)
        checks = await account.checks()
        steps = await account.setup(dry_run=True)
    finally:
        await client.http.aclose()

    assert [(check.name, check.ok) for check in checks] == [("reachable", False)]
    assert url in checks[0].detail and "cannot connect" in checks[0].detail and url in checks[0].fix
    assert [step.state for step in steps] == ["exists", "exists", "manual"] and url in steps[2].detail


async def test_a_rate_limited_key_fails_the_rate_limit_check(stripe_client: StripeClient, sandbox: Boxes) -> None:
    sandbox.stripe.fault(method="POST", path="/v1/refunds/*", action="rate_limit", retry_after=3, times=1)
    checks = by_name(await StripeAccount(stripe_client).checks())
    assert not checks["rate limit"].ok and "Retry-After 3s" in checks["rate limit"].detail
    assert not checks["scopes"].ok and "refunds (HTTP 429)" in checks["scopes"].detail
    assert checks["credentials"].ok


# --------------------------------------------------------------------------- setup


async def test_setup_names_the_missing_permission_and_changes_nothing(
    key_client: StripeClient, sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key("rk_test")
    register(sandbox, token=key, scopes=[p for p in REQUIRED if p not in ("rak_refund_write", "rak_invoice_write")])
    use_key(monkeypatch, key)
    account = StripeAccount(key_client)
    for dry_run in (True, False):
        steps = await account.setup(dry_run=dry_run)

        assert [step.what for step in steps if step.state == "manual"] == ["permission rak_invoice_write",
                                                                           "permission rak_refund_write"]
        assert {step.what for step in steps if step.state == "exists"} == {
            "key carrier: Idempotency-Key header", "key carrier: metadata[pivot_key] and metadata[pivot_send_key]",
            "permission rak_customer_write", "permission rak_invoice_item_write", "permission rak_payment_intent_write"}
        assert_no_secret(steps, key, tail=6)
    assert sandbox.stripe.effects() == []


async def test_setup_against_a_secret_key_has_nothing_manual(stripe_client: StripeClient) -> None:
    steps = await StripeAccount(stripe_client).setup(dry_run=False)
    assert [step.state for step in steps] == ["exists"] * (2 + len(WRITTEN))


# --------------------------------------------------------------------------- the sandbox's side


async def test_get_account_answers_the_account_object_of_the_spec(sandbox: Boxes) -> None:
    response = call(sandbox, "GET", "/v1/account", STRIPE_KEY)

    assert response.status_code == 200
    assert response.headers["stripe-version"] == STRIPE_VERSION and response.headers["request-id"]
    body = response.json()
    assert (body["id"], body["object"], body["charges_enabled"]) == (ACCOUNT_ID, "account", True)
    assert response_errors("/v1/account", "get", 200, body) == []
    assert response_errors("/v1/account", "get", 200, {**body, "colour": "blue"})  # the check is not vacuous


async def test_a_revoked_key_gets_stripes_401(sandbox: Boxes) -> None:
    key = new_key("sk_test")
    register(sandbox, token=key, revoked=True)

    response = call(sandbox, "GET", "/v1/account", key)
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Basic realm="Stripe"'
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "api_key_expired")
    assert error["message"].startswith("Expired API Key provided: sk_test_") and key not in error["message"]
    assert response_errors("/v1/account", "get", 401, response.json()) == []


async def test_a_restricted_key_gets_stripes_403_before_the_object_is_looked_up(sandbox: Boxes) -> None:
    key = new_key("rk_test")
    register(sandbox, token=key, scopes=["rak_refund_read", "rak_customer_write"])

    refused = call(sandbox, "POST", "/v1/refunds/re_doesNotExist", key)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert set(error) == {"type", "message"} and error["type"] == "invalid_request_error"
    assert f"on account '{ACCOUNT_ID}'" in error["message"]
    assert "Having the 'rak_refund_write' permission would allow this request to continue." in error["message"]
    assert key not in error["message"]
    assert response_errors("/v1/refunds/{refund}", "post", 403, refused.json()) == []
    assert call(sandbox, "GET", "/v1/refunds", key).status_code == 200  # read granted
    assert call(sandbox, "GET", "/v1/customers", key).status_code == 200  # write implies read
    assert call(sandbox, "POST", "/v1/customers/cus_doesNotExist", key).status_code == 404  # permitted: not found
    assert call(sandbox, "GET", "/v1/account", key).status_code == 403


async def test_the_probed_updates_answer_in_the_specs_shapes(sandbox: Boxes) -> None:
    """The three update endpoints the probes use exist, answer 404 for a missing object and update
    description and metadata of an existing one."""
    for path, spec_path in (("/v1/invoiceitems/ii_missing", "/v1/invoiceitems/{invoiceitem}"),
                            ("/v1/payment_intents/pi_missing", "/v1/payment_intents/{intent}"),
                            ("/v1/refunds/re_missing", "/v1/refunds/{refund}")):
        missing = call(sandbox, "POST", path, STRIPE_KEY)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
        assert response_errors(spec_path, "post", 404, missing.json()) == []

    intent = call(sandbox, "POST", "/v1/payment_intents", STRIPE_KEY, {
        "amount": "2000", "currency": "usd", "customer": SEED_CUSTOMER_ID, "payment_method": "pm_card_visa",
        "confirm": "true"}).json()
    updated = call(sandbox, "POST", f"/v1/payment_intents/{intent['id']}", STRIPE_KEY,
                   {"description": "probe", "metadata[k]": "v"})
    assert updated.status_code == 200 and updated.json()["metadata"] == {"k": "v"}
    assert response_errors("/v1/payment_intents/{intent}", "post", 200, updated.json()) == []
    refund = call(sandbox, "POST", "/v1/refunds", STRIPE_KEY, {"payment_intent": intent["id"]}).json()
    updated = call(sandbox, "POST", f"/v1/refunds/{refund['id']}", STRIPE_KEY, {"metadata[k]": "v"})
    assert updated.status_code == 200 and updated.json()["metadata"] == {"k": "v"}
    assert response_errors("/v1/refunds/{refund}", "post", 200, updated.json()) == []
    item = call(sandbox, "POST", "/v1/invoiceitems", STRIPE_KEY, {
        "customer": SEED_CUSTOMER_ID, "amount": "500", "currency": "usd"}).json()
    updated = call(sandbox, "POST", f"/v1/invoiceitems/{item['id']}", STRIPE_KEY, {"description": "renamed"})
    assert updated.status_code == 200 and updated.json()["description"] == "renamed"
    assert response_errors("/v1/invoiceitems/{invoiceitem}", "post", 200, updated.json()) == []
    assert call(sandbox, "POST", f"/v1/refunds/{refund['id']}", STRIPE_KEY, {"amount": "1"}).status_code == 400


async def test_the_token_book_is_listed_and_reset_clears_it(sandbox: Boxes) -> None:
    key = new_key("sk_test")
    register(sandbox, token=key, revoked=True)
    assert sandbox.stripe.raw.get("/_sandbox/tokens").json()["tokens"] == [
        {"token": key, "scopes": None, "revoked": True}]

    sandbox.stripe.raw.post("/_sandbox/reset").raise_for_status()
    assert sandbox.stripe.raw.get("/_sandbox/tokens").json() == {"tokens": []}
    unknown = call(sandbox, "GET", "/v1/account", key)  # no longer revoked: unknown, as any other key
    assert unknown.status_code == 401 and unknown.json()["error"]["message"].startswith("Invalid API Key provided")
    assert call(sandbox, "GET", "/v1/account", STRIPE_KEY).status_code == 200  # the configured key is kept
