"""The sandboxes check credentials the way each real API does, so `pivot doctor` catches a wrong key.

Before, every sandbox accepted any credential: `pivot doctor` was green with
`STRIPE_API_KEY=sk_test_wrong`. Here each of the five refuses a wrong credential and a missing one
with the real API's status and body, and the official SDKs raise their authentication errors on
those refusals; the right credential still works; `pivot doctor` with a wrong key goes red, naming
the provider and the variable and never the key; and what `pivot dev` prints is what its sandboxes
accept.

The sandboxes run exactly as `pivot dev` starts them: the local stack's sandboxes process, its
command and environment, on free loopback ports, stopped by its pid.
"""

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from rich.console import Console
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from pivot.providers.shopify import documents
from pivot.providers.shopify.client import API_VERSION as SHOPIFY_VERSION
from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID
from pivot.services.catalog import CREDENTIAL_ENV
from pivot.services.cli import main
from pivot.services.local.demo import DEMO_CHANNEL
from pivot.services.local.stack import LOCAL_CREDENTIALS, Ports, Stack
from tests.sandbox.process import PROJECT_ROOT, free_port, running_sandboxes

PROVIDERS = ("stripe", "hubspot", "slack", "salesforce", "shopify", "resend")
LABELS = {"stripe": "Stripe", "hubspot": "HubSpot", "slack": "Slack", "salesforce": "Salesforce",
          "shopify": "Shopify", "resend": "Resend"}
WRONG = {
    "stripe": "sk_test_51WrongKeyThatNoSandboxIssuedwxyz",
    "hubspot": "pat-na1-11111111-2222-3333-4444-555555555555",
    "slack": "xoxb-0000000000-1111111111-WrongSlackBotToken",
    "salesforce": "00D000000000001!AQ4AQWrongSalesforceSessionToken",
    "shopify": "shpat_00000000000000000000000000wrong",
    "resend": "re_WrongKeyThatNoSandboxIssued_0000",
}
"""Well-formed credentials of the right kind that the sandboxes were never given."""

STRIPE_NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, "
                 "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                 "https://stripe.com/docs/api#authentication for details, or we can help at "
                 "https://support.stripe.com/.")
HUBSPOT_NOT_FOUND = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                     "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
SALESFORCE_INVALID = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
SHOPIFY_INVALID = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def right(provider: str) -> str:
    """The credential `pivot dev` gives the service for `provider`, and its sandbox accepts."""
    return LOCAL_CREDENTIALS[CREDENTIAL_ENV[provider]]


def bearer(credential: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"} if credential is not None else {}


# ------------------------------------------------------------------------------------------- the wire


@dataclass(frozen=True)
class Wire:
    """One provider's write as raw HTTP, and what its refusals and its success look like."""

    write: Callable[[str, str | None], httpx.Response]
    refused: Callable[[httpx.Response, str | None], None]
    accepted: Callable[[httpx.Response], None]


def _stripe_write(url: str, key: str | None) -> httpx.Response:
    return httpx.post(f"{url}/v1/customers", data={"email": "ada@example.com"}, headers=bearer(key), timeout=10)


def _stripe_refused(response: httpx.Response, key: str | None) -> None:
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Basic realm="Stripe"'
    if key is None:
        message = STRIPE_NO_KEY
    else:  # Stripe shows the key's kind and its last four characters, nothing else
        message = "Invalid API Key provided: sk_test_" + "*" * (len(key) - len("sk_test_") - 4) + key[-4:]
    assert response.json() == {"error": {"type": "invalid_request_error", "message": message}}


def _stripe_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json()["id"].startswith("cus_")


def _hubspot_write(url: str, token: str | None) -> httpx.Response:
    return httpx.post(f"{url}/crm/v3/objects/contacts", headers=bearer(token), timeout=10,
                      json={"properties": {"email": f"ada+{uuid.uuid4().hex[:8]}@example.com"}})


def _hubspot_refused(response: httpx.Response, token: str | None) -> None:
    body = response.json()
    assert response.status_code == 401
    assert uuid.UUID(body.pop("correlationId"))
    assert body == {"status": "error", "message": HUBSPOT_NOT_FOUND, "category": "INVALID_AUTHENTICATION"}


def _hubspot_accepted(response: httpx.Response) -> None:
    assert response.status_code == 201 and response.json()["id"]


def _slack_write(url: str, token: str | None) -> httpx.Response:
    return httpx.post(f"{url}/api/chat.postMessage", data={"channel": DEMO_CHANNEL, "text": "hi"},
                      headers=bearer(token), timeout=10)


def _slack_refused(response: httpx.Response, token: str | None) -> None:
    assert response.status_code == 200  # Slack's errors are 200 with ok: false
    assert response.json() == {"ok": False, "error": "not_authed" if token is None else "invalid_auth"}


def _slack_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json()["ok"] is True


def _salesforce_write(url: str, token: str | None) -> httpx.Response:
    return httpx.post(f"{url}/services/data/v60.0/sobjects/Account", json={"Name": "Ada Ltd"},
                      headers=bearer(token), timeout=10)


def _salesforce_refused(response: httpx.Response, token: str | None) -> None:
    assert response.status_code == 401 and response.json() == SALESFORCE_INVALID


def _salesforce_accepted(response: httpx.Response) -> None:
    assert response.status_code == 201 and response.json()["success"] is True


def _shopify_write(url: str, token: str | None) -> httpx.Response:
    variables = {"input": {"lineItems": [{"title": "Pro plan", "quantity": 1, "originalUnitPriceWithCurrency":
                                          {"amount": "12.00", "currencyCode": "USD"}}]}}
    headers = {"X-Shopify-Access-Token": token} if token is not None else {}
    return httpx.post(f"{url}/admin/api/{SHOPIFY_VERSION}/graphql.json", headers=headers, timeout=10,
                      json={"query": documents.DRAFT_ORDER_CREATE, "variables": variables})


def _shopify_refused(response: httpx.Response, token: str | None) -> None:
    assert response.status_code == 401 and response.json() == SHOPIFY_INVALID


def _shopify_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json()["data"]["draftOrderCreate"]["draftOrder"]["id"]


def _resend_write(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(f"{url}/emails", headers=headers, timeout=10,
                      json={"from": "Acme <billing@example.com>", "to": ["ada@example.org"], "subject": "Hi",
                            "text": "Hello"})


def _resend_refused(response: httpx.Response, token: str | None) -> None:
    expected = (401, "missing_api_key") if token is None else (403, "invalid_api_key")
    assert (response.status_code, response.json()["name"]) == expected


def _resend_accepted(response: httpx.Response) -> None:
    assert response.status_code == 200 and response.json()["id"]


WIRES = {
    "stripe": Wire(_stripe_write, _stripe_refused, _stripe_accepted),
    "hubspot": Wire(_hubspot_write, _hubspot_refused, _hubspot_accepted),
    "slack": Wire(_slack_write, _slack_refused, _slack_accepted),
    "salesforce": Wire(_salesforce_write, _salesforce_refused, _salesforce_accepted),
    "shopify": Wire(_shopify_write, _shopify_refused, _shopify_accepted),
    "resend": Wire(_resend_write, _resend_refused, _resend_accepted),
}


def effects(url: str) -> list[dict[str, Any]]:
    """The sandbox's ledger, read without any credential: the instrument routes stay open."""
    response = httpx.get(f"{url}/_sandbox/ledger", timeout=10)
    assert response.status_code == 200
    return list(response.json()["effects"])


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`pivot dev`'s stack of which only the sandboxes process runs (its command and environment)."""
    base = tmp_path_factory.mktemp("dev-sandboxes")
    stack = Stack(ports=Ports.free(), data_dir=base / "restate-data", log_dir=base / "logs")
    stack.sandboxes.start()
    try:
        stack.wait_sandboxes()
        yield stack
    finally:
        stack.sandboxes.stop()


@pytest.fixture
def urls(dev_stack: Stack) -> dict[str, str]:
    """The sandboxes' addresses, each sandbox reset first (its ledger empty, its token book cleared)."""
    for url in dev_stack.sandbox_urls.values():
        httpx.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
    return dev_stack.sandbox_urls


@pytest.fixture
def operator_env(urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An operator's shell pointed at the dev sandboxes with the credentials `pivot dev` prints,
    and nothing else of Pivot's (no named connections)."""
    for name in list(os.environ):
        if name.startswith("PIVOT_") or name in CREDENTIAL_ENV.values():
            monkeypatch.delenv(name)
    for provider, url in urls.items():
        monkeypatch.setenv(f"PIVOT_{provider.upper()}_BASE_URL", url)
        monkeypatch.setenv(CREDENTIAL_ENV[provider], right(provider))
    return urls


# ------------------------------------------------------------------------------------------- the sandboxes


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_or_missing_credential_gets_the_real_refusal_and_changes_nothing(
    provider: str, urls: dict[str, str]
) -> None:
    url, wire = urls[provider], WIRES[provider]
    for credential in (WRONG[provider], None):
        refusal = wire.write(url, credential)
        wire.refused(refusal, credential)
        assert WRONG[provider] not in refusal.text
    assert effects(url) == []  # refused before anything was written

    wire.accepted(wire.write(url, right(provider)))
    assert len(effects(url)) >= 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_token_book_still_revokes_and_adds_credentials_on_top(provider: str, urls: dict[str, str]) -> None:
    url, wire = urls[provider], WIRES[provider]
    registered = httpx.post(f"{url}/_sandbox/tokens", json={"token": WRONG[provider]}, timeout=10)
    assert registered.status_code == 201
    wire.accepted(wire.write(url, WRONG[provider]))  # a test registered it: now the account issued it

    revoked = httpx.post(f"{url}/_sandbox/tokens", json={"token": right(provider), "revoked": True}, timeout=10)
    assert revoked.status_code == 201
    refusal = wire.write(url, right(provider))
    if provider == "stripe":  # Stripe words a revoked key as an expired one
        assert refusal.status_code == 401 and refusal.json()["error"]["code"] == "api_key_expired"
    else:
        wire.refused(refusal, right(provider))

    httpx.delete(f"{url}/_sandbox/tokens", timeout=10).raise_for_status()
    wire.accepted(wire.write(url, right(provider)))  # the configured credential is back
    wire.refused(wire.write(url, WRONG[provider]), WRONG[provider])  # the registered one is gone


def test_a_sandbox_accepts_every_credential_it_is_given_and_nothing_else() -> None:
    keys = ["sk_test_firstAccountKey0001", "sk_test_secondClientKey0002"]
    with running_sandboxes(("stripe",), {"stripe": keys}) as process:
        url = process.urls["stripe"]
        for key in keys:
            WIRES["stripe"].accepted(_stripe_write(url, key))
        for other in (right("stripe"), WRONG["stripe"]):  # given keys replace the local fake
            _stripe_refused(_stripe_write(url, other), other)


def test_a_sandbox_told_to_accept_no_credential_refuses_to_start() -> None:
    variable = "PIVOT_SANDBOX_STRIPE_CREDENTIALS"
    command = [sys.executable, "-m", "pivot.providers.serve_sandboxes", "--stripe", f"127.0.0.1:{free_port()}"]
    done = subprocess.run(command, env={**os.environ, variable: " , "}, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and f"{variable} is set but lists no credential" in done.stderr


# ------------------------------------------------------------------------------------------- official SDKs


def test_stripes_sdk_raises_its_authentication_error(urls: dict[str, str]) -> None:
    def client(key: str) -> stripe.StripeClient:
        return stripe.StripeClient(key, base_addresses={"api": urls["stripe"]}, max_network_retries=0)

    with pytest.raises(stripe.AuthenticationError) as refused:
        client(WRONG["stripe"]).v1.customers.retrieve(SEED_CUSTOMER_ID)
    assert refused.value.http_status == 401
    assert str(refused.value.user_message).startswith("Invalid API Key provided: sk_test_*")
    assert WRONG["stripe"] not in str(refused.value)
    assert client(right("stripe")).v1.customers.retrieve(SEED_CUSTOMER_ID).email == "ada@example.com"


def test_slacks_sdk_raises_its_api_error_with_invalid_auth(urls: dict[str, str]) -> None:
    base = f"{urls['slack']}/api/"
    with pytest.raises(SlackApiError) as refused:
        WebClient(token=WRONG["slack"], base_url=base).auth_test()
    assert refused.value.response.status_code == 200 and refused.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=base).auth_test()
    assert missing.value.response["error"] == "not_authed"
    assert WebClient(token=right("slack"), base_url=base).auth_test()["ok"] is True


# ------------------------------------------------------------------------------------------- pivot doctor


@pytest.mark.parametrize("provider", PROVIDERS)
def test_doctor_is_red_with_a_wrong_key_and_names_the_provider_and_the_variable(
    provider: str, operator_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    variable = CREDENTIAL_ENV[provider]
    monkeypatch.setenv(variable, WRONG[provider])

    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    failing = [check for check in report["checks"] if not check["ok"]]
    assert code == 1 and report["ok"] is False
    assert {check["provider"] for check in failing} == {provider}  # the other four are still green
    credentials = next(check for check in failing if check["name"] == "credentials")
    assert f"{LABELS[provider]} refused the " in credentials["detail"] and variable in credentials["detail"]
    assert variable in credentials["fix"]
    assert WRONG[provider] not in json.dumps(report) and WRONG[provider][-8:] not in json.dumps(report)

    code = main(["doctor", provider])
    printed = capsys.readouterr().out
    assert code == 1 and "problem" in printed and variable in printed and WRONG[provider] not in printed


# ------------------------------------------------------------------------------------------- pivot dev


def test_pivot_dev_prints_the_credentials_its_sandboxes_accept(dev_stack: Stack, urls: dict[str, str]) -> None:
    from pivot.services.local.sandbox_credentials import print_sandbox_credentials

    screen = io.StringIO()
    print_sandbox_credentials(Console(file=screen, width=100), dev_stack.sandbox_urls)
    printed = screen.getvalue()
    assert "local fakes, accepted only by these sandboxes" in printed
    exports = [line.strip() for line in printed.splitlines() if line.strip().startswith("export ")]
    assert len(exports) == len(PROVIDERS)

    # Pasted into a fresh shell (nothing of Pivot's in it), the lines are all doctor needs: green.
    shell_env = {name: value for name, value in os.environ.items()
                 if not name.startswith("PIVOT_") and name not in CREDENTIAL_ENV.values()}
    script = "\n".join(exports) + '\nexec "$0" -c "import sys; from pivot.services.cli import main; ' \
        'sys.exit(main(sys.argv[1:]))" doctor --json'
    done = subprocess.run(["bash", "-c", script, sys.executable], env=shell_env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and {check["provider"] for check in report["checks"]} == set(PROVIDERS)

    # The same lines with one wrong key: doctor is red, about that provider alone.
    wrong = [line.replace(right("shopify"), WRONG["shopify"]) for line in exports]
    done = subprocess.run(["bash", "-c", "\n".join(wrong) + script[script.index("\nexec"):], sys.executable],
                          env=shell_env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert {c["provider"] for c in json.loads(done.stdout)["checks"] if not c["ok"]} == {"shopify"}

    # Printed to the developer, never logged by the sandboxes.
    log = Path(dev_stack.log_dir / "sandboxes.log").read_text(errors="replace")
    assert all(secret not in log for secret in LOCAL_CREDENTIALS.values())
