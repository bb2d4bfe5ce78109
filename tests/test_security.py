"""Request identity (only the Restate server may call the service) and secrets (credentials
never reach the journal, state or logs)."""

import base64
import json
import time
import uuid

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pivot.providers.sandbox_kit.credentials import LOCAL_SIGNING_SECRETS
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import LOCAL_CREDENTIALS, Stack
from tests.conftest import APPROVER_TOKENS, EU_STRIPE_KEY
from tests.restate_scan import stored
from tests.sandboxes import Sandboxes
from tests.test_approvals import decide, park
from tests.test_slack_approvals import FINANCE, click, park_in_slack


def _jwt(key: Ed25519PrivateKey, audience: str) -> str:
    """A request-identity token as the Restate server makes it (EdDSA JWT, audience = path)."""
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    now = int(time.time())
    header = b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"aud": audience, "iat": now, "nbf": now - 5, "exp": now + 60}).encode())
    signature = b64(key.sign(header + b"." + claims))
    return (header + b"." + claims + b"." + signature).decode()


def _signed_get(stack: Stack, key: Ed25519PrivateKey) -> int:
    headers = {"x-restate-signature-scheme": "v1", "x-restate-jwt-v1": _jwt(key, "/discover")}
    return httpx.get(f"{stack.service_url}/discover", headers=headers, timeout=10).status_code


def test_only_requests_signed_by_our_restate_server_are_served(stack: Stack, sandboxes: Sandboxes) -> None:
    before = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}
    unsigned = httpx.post(f"{stack.service_url}/invoke/SagaRun/run", content=b"{}", timeout=10,
                          headers={"content-type": "application/vnd.restate.invocation.v5"})
    assert unsigned.status_code == 401
    assert httpx.get(f"{stack.service_url}/discover", timeout=10).status_code == 401
    assert _signed_get(stack, Ed25519PrivateKey.generate()) == 401

    pem = (stack.data_dir.parent / "identity" / "request-identity.pem").read_bytes()
    ours = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(ours, Ed25519PrivateKey)
    assert _signed_get(stack, ours) != 401  # the same token format, signed right, passes the check
    assert {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls} == before


def test_no_secret_reaches_the_journal_state_or_logs(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:8]
    assert pivot.run(f"sec-ok-{token}", flagship_plan(f"sec+{token}@example.com"))["status"] == "committed"
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=401, times=None)
    assert pivot.run(f"sec-fail-{token}", flagship_plan(f"sec2+{token}@example.com"))["status"] == "compensated"
    sandboxes.clear_faults()
    run_id, approval = park(pivot)
    decide(pivot, approval, comment="secret scan")
    assert pivot.attach(run_id)["status"] == "committed"
    # A gate decided in Slack: the click is signed with the app's secret; the approver's proof is made
    # on the approval page's server.
    run_id, _, message = park_in_slack(pivot, sandboxes)
    click(stack, message, FINANCE)
    assert pivot.attach(run_id)["status"] == "committed"

    # A named connection's credential comes from the connections file: it is read inside the step too.
    eu_plan = {"steps": [{"id": "eu", "action": "stripe.create_invoice", "connection": "eu",
                          "params": flagship_plan()["steps"][1]["params"]}]}
    assert pivot.run(f"sec-eu-{token}", eu_plan)["status"] == "committed"

    secrets = [*LOCAL_CREDENTIALS.values(), *APPROVER_TOKENS.values(), EU_STRIPE_KEY, *LOCAL_SIGNING_SECRETS.values()]

    found = stored(stack)
    assert len(found.journal) > 50 and len(found.state) >= 4  # the scan looked at real data
    assert any(f"sec-ok-{token}" in text for text in found.decoded)  # decoding works: run ids show up
    assert found.containing(secrets) == []
