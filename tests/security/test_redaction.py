"""A provider error body that echoes a credential is stored and shown redacted: never in the
outcome, the Restate journal or state, the service log, or the CLI's output. Token-shaped strings
the service was never configured with are redacted too."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import LOCAL_CREDENTIALS, Stack
from tests.restate_scan import stored
from tests.sandboxes import Sandboxes
from tests.security.terminal import assert_shown_safely, run_cli

STRIPE_KEY = LOCAL_CREDENTIALS["STRIPE_API_KEY"]
FOREIGN_TOKENS = {
    "stripe live key": "sk_live_51HqLyjWDarjtT1zdp7dcFOREIGN",
    "stripe restricted key": "rk_test_26PHem9AhJZvU623DfE1x4sd",
    "slack bot token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "hubspot private app token": "pat-na1-11111111-2222-3333-4444-555555555555",
    "shopify access token": "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",
    "resend api key": "re_Zf3kQ9xA_7Lm2Np8Rt4Vw6Yb1Cd5Eg9Hj3Kq",
    "salesforce session id": "00D5e000000XyZ1!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
    "bearer value": "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
}
"""Credentials of nobody this service knows, in each provider's real shape."""


@pytest.fixture
def echoed_key(pivot: PivotClient, sandboxes: Sandboxes) -> Iterator[str]:
    """A saga whose Stripe call is refused with Stripe's own 401 body, which quotes the key it was sent
    ("Invalid API Key provided: sk_test_…") plus, for the test, every foreign token."""
    run_id = f"redact-{uuid.uuid4().hex[:10]}"
    message = f"Invalid API Key provided: {STRIPE_KEY}; also seen: " + ", ".join(FOREIGN_TOKENS.values())
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=401, times=1,
                    body={"error": {"type": "invalid_request_error", "message": message}})
    plan = flagship_plan(f"redact+{run_id}@example.com")
    outcome = pivot.run(run_id, plan)
    assert outcome["status"] == "compensated", outcome
    error = next(s for s in outcome["steps"] if s["id"] == "invoice")["error"]
    assert error["code"] == "unauthorized" and "Invalid API Key provided" in error["message"], error
    yield run_id


def _leaks(text: str) -> list[str]:
    secrets = {"configured stripe key": STRIPE_KEY, **FOREIGN_TOKENS}
    return [name for name, secret in secrets.items() if secret in text]


def test_an_echoed_credential_is_never_stored(stack: Stack, pivot: PivotClient, echoed_key: str) -> None:
    outcome = pivot.status(echoed_key)
    assert "[redacted]" in json.dumps(outcome)
    assert _leaks(json.dumps(outcome)) == []

    found = stored(stack)
    assert any("Invalid API Key provided" in text for text in found.decoded)  # the scan does see the error
    for where, text in {"journal": json.dumps(found.journal) + "\n".join(found.decoded),
                        "state": json.dumps(found.state), "invocations": json.dumps(found.invocations)}.items():
        assert _leaks(text) == [], where

    service_log = (stack.log_dir / "service.log").read_text(errors="replace")
    assert echoed_key in service_log
    assert _leaks(service_log) == []


def test_an_echoed_credential_is_never_printed(stack: Stack, echoed_key: str) -> None:
    for command in (["status", echoed_key], ["journal", echoed_key], ["list", "--status", "compensated"]):
        shown = run_cli(stack, *command)
        assert_shown_safely(shown)
        assert _leaks(shown.output) == [], command
    assert "[redacted]" in run_cli(stack, "status", echoed_key).stdout


# -- the redaction function ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "token"), FOREIGN_TOKENS.items())
def test_token_shaped_strings_are_redacted(name: str, token: str) -> None:
    from pivot.providers.redaction import redact

    redacted = redact(f"provider said: {token} (end)")
    assert token not in redacted and "[redacted]" in redacted, name
    assert redacted.startswith("provider said: ") and redacted.endswith(" (end)")
    assert redact(redacted) == redacted  # redacting twice changes nothing


@pytest.mark.parametrize("harmless", [
    "cus_9s6XKzkNRiz8i3", "in_1NvXbN2eZvKYlo2C0q6QqWzD", "re_3MtwBwLkdIwHu7ix0XtpMz1B",
    "pv1_" + "ab" * 32, "ada@example.com",
    "00Q5e00000AbCdEfGH", "C024BE91L", "Basic plan", "Bearer of bad news", "the pat-down",
    "HubSpot contact 512 was archived", "https://api.stripe.com/v1/invoices/in_123/finalize",
])
def test_ordinary_provider_words_are_left_alone(harmless: str) -> None:
    from pivot.providers.redaction import redact

    assert redact(harmless) == harmless


def test_every_configured_credential_is_redacted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pivot.providers.redaction import redact

    connections = tmp_path / "connections.toml"
    connections.write_text('[stripe.eu]\ncredential = "eu-file-credential-0001"\n'
                           '[hubspot.eu]\ncredential_env = "HUBSPOT_EU_SECRET_VAR"\n')
    configured = {
        "STRIPE_API_KEY": "plain-stripe-value-0001",  # any shape: found by value
        "PIVOT_SLACK_CREDENTIAL_ENV": "MY_SLACK_VAR",
        "MY_SLACK_VAR": "renamed-slack-value-0001",
        "HUBSPOT_EU_SECRET_VAR": "eu-env-credential-0001",
        "PIVOT_CONNECTION__SHOPIFY__EU__CREDENTIAL": "env-connection-credential-0001",
        "PIVOT_APPROVERS": "finance:approver-token-0001,ops:approver-token-0002",
        "PIVOT_APPROVER_TOKEN": "cli-approver-token-0003",
        "PIVOT_CONNECTIONS_FILE": str(connections),
    }
    for name, value in configured.items():
        monkeypatch.setenv(name, value)
    secrets = ["plain-stripe-value-0001", "renamed-slack-value-0001", "eu-file-credential-0001",
               "eu-env-credential-0001", "env-connection-credential-0001", "approver-token-0001",
               "approver-token-0002", "cli-approver-token-0003"]
    text = redact(" | ".join(secrets))
    assert [s for s in secrets if s in text] == [] and text.count("[redacted]") == len(secrets)
    assert redact("short", ["short"]) == "[redacted]" and redact("x" * 3) == "x" * 3


def test_a_broken_connections_file_does_not_stop_redaction(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pivot.providers.redaction import redact

    broken = tmp_path / "connections.toml"
    broken.write_text("[stripe.eu\n")
    monkeypatch.setenv("PIVOT_CONNECTIONS_FILE", str(broken))
    monkeypatch.setenv("SOME_API_KEY", "configured-value-0001")
    assert redact(f"key configured-value-0001 {FOREIGN_TOKENS['jwt']}") == "key [redacted] [redacted]"


def test_provider_errors_are_redacted_in_place() -> None:
    from pivot.compensations.errors import CompensationConflict, ProviderUnavailable
    from pivot.providers.redaction import redact_error

    token = FOREIGN_TOKENS["stripe live key"]
    conflict = CompensationConflict(f"changed by {token}", expected={"k": [token]}, current=token)
    redact_error(conflict)
    assert token not in f"{conflict} {conflict.info.model_dump_json()}"
    assert conflict.info.code == "compensation_conflict" and conflict.info.detail == {
        "expected": {"k": ["sk_live_[redacted]"]}, "current": "sk_live_[redacted]"}
    unavailable = ProviderUnavailable(f"timeout for {token}", retry_after_s=2.0, ambiguous=True)
    redact_error(unavailable)
    assert token not in f"{unavailable} {unavailable.message}"
    assert unavailable.retry_after_s == 2.0 and unavailable.ambiguous


def test_the_cli_helper_redacts_as_a_second_line_of_defence(monkeypatch: pytest.MonkeyPatch) -> None:
    from pivot.services.terminal_text import clean, markup, text

    monkeypatch.setenv("PIVOT_APPROVER_TOKEN", "cli-approver-token-0003")
    for shown in (clean("token cli-approver-token-0003"), text("token cli-approver-token-0003").plain,
                  markup("[red]{}[/]", FOREIGN_TOKENS["slack bot token"]).plain):
        assert "cli-approver-token-0003" not in shown and "pdFZKVeTuE8sk7oOcBrzbqgy" not in shown
        assert "[redacted]" in shown
