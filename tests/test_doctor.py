"""`pivot doctor` and `pivot setup` as an operator runs them: against the stack's sandboxes (all
green, named connections included) and against a fresh HubSpot sandbox whose key property is
missing (doctor names it, setup creates it once, a dry run changes nothing)."""

import json
from collections.abc import Iterator

import httpx
import pytest

from pivot.providers.sandbox_kit.credentials import LOCAL_SIGNING_SECRETS
from pivot.services.cli import main
from pivot.services.local.processes import free_port
from pivot.services.local.stack import LOCAL_CREDENTIALS, LOCAL_SLACK_APPROVALS_CHANNEL, Stack
from tests.sandbox.process import running_sandbox


@pytest.fixture
def operator_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The environment an operator's shell would have for the stack: credentials, base URLs, connections."""
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for provider, url in stack.sandbox_urls.items():
        monkeypatch.setenv(f"PIVOT_{provider.upper()}_BASE_URL", url)
    monkeypatch.setenv("PIVOT_CONNECTIONS_FILE", stack.service.env["PIVOT_CONNECTIONS_FILE"])
    return stack


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["doctor", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_doctor_is_green_against_the_sandboxes(operator_env: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys)
    checks: list[dict[str, str]] = report["checks"]  # type: ignore[assignment]
    assert code == 0 and report["ok"], [c for c in checks if not c["ok"]]
    assert {c["provider"] for c in checks} == {"stripe", "hubspot", "slack", "salesforce", "shopify", "resend"}
    assert ("stripe", "eu") in {(c["provider"], c["connection"]) for c in checks}  # every named connection
    assert {"credentials", "scopes", "key carriers", "api version", "clock", "rate limit"} <= {
        c["name"] for c in checks if c["provider"] == "hubspot"}
    assert main(["doctor"]) == 0
    assert "all checks passed" in capsys.readouterr().out
    assert all(secret not in json.dumps(report) for secret in LOCAL_CREDENTIALS.values())


def test_doctor_names_a_bad_token_and_an_unreachable_api(
    operator_env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    slack = operator_env.sandbox_urls["slack"]
    revoked = "xoxb-revoked-by-the-doctor-test"
    assert httpx.post(f"{slack}/_sandbox/tokens", json={"token": revoked, "revoked": True}).status_code == 201
    monkeypatch.setenv("SLACK_BOT_TOKEN", revoked)
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PIVOT_SHOPIFY_BASE_URL", closed)
    try:
        code, report = doctor(capsys)
    finally:
        httpx.delete(f"{slack}/_sandbox/tokens")
    problems = {(c["provider"], c["name"]): c for c in report["checks"] if not c["ok"]}  # type: ignore[union-attr]
    assert code == 1 and not report["ok"]
    assert ("slack", "credentials") in problems and problems[("slack", "credentials")]["fix"]
    assert ("shopify", "reachable") in problems and closed in problems[("shopify", "reachable")]["detail"]
    assert revoked not in json.dumps(report)
    assert all(c["provider"] in {"slack", "shopify"} for c in report["checks"] if not c["ok"])  # type: ignore[union-attr]


def test_doctor_checks_approvals_in_slack_once_they_are_configured(
    operator_env: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", LOCAL_SIGNING_SECRETS["slack"])
    monkeypatch.setenv("PIVOT_SLACK_APPROVALS_CHANNEL", LOCAL_SLACK_APPROVALS_CHANNEL)
    monkeypatch.setenv("PIVOT_SLACK_APPROVERS", "finance:U07FINLEAD,ops:U07OPSLEAD")
    code, report = doctor(capsys, "slack")
    approvals = [c for c in report["checks"] if c["name"] == "approvals"]  # type: ignore[union-attr]
    assert code == 0 and len(approvals) == 1 and approvals[0]["ok"], approvals
    assert "finance = U07FINLEAD" in approvals[0]["detail"] and "/slack/interactivity" in approvals[0]["detail"]
    assert LOCAL_SIGNING_SECRETS["slack"] not in json.dumps(report)

    monkeypatch.setenv("PIVOT_SLACK_APPROVERS", "finance:U07NOBODY1")
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    code, report = doctor(capsys, "slack")
    approvals = [c for c in report["checks"] if c["name"] == "approvals"]  # type: ignore[union-attr]
    assert code == 1 and not approvals[0]["ok"]
    assert "SLACK_SIGNING_SECRET is not set" in approvals[0]["detail"]
    assert "finance's Slack user U07NOBODY1 was not found (user_not_found)" in approvals[0]["detail"]


@pytest.fixture
def fresh_hubspot(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A HubSpot portal of its own whose contacts lack Pivot's key property."""
    with running_sandbox("hubspot", credentials=[LOCAL_CREDENTIALS["HUBSPOT_TOKEN"]]) as sandbox:
        monkeypatch.setenv("HUBSPOT_TOKEN", LOCAL_CREDENTIALS["HUBSPOT_TOKEN"])
        monkeypatch.setenv("PIVOT_HUBSPOT_BASE_URL", sandbox.url)
        assert httpx.delete(f"{sandbox.url}/_sandbox/properties/contacts/pivot_key").status_code in {200, 204}
        yield sandbox.url


def test_setup_creates_the_key_property_once(fresh_hubspot: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys, "hubspot")
    missing = [c for c in report["checks"] if c["name"] == "key carriers"]  # type: ignore[union-attr]
    assert code == 1 and missing and not missing[0]["ok"] and "pivot setup hubspot" in missing[0]["fix"]

    def properties() -> list[str]:
        body = httpx.get(f"{fresh_hubspot}/crm/v3/properties/contacts",
                         headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['HUBSPOT_TOKEN']}"}).json()
        return sorted(p["name"] for p in body["results"])

    before = properties()
    assert main(["setup", "hubspot", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)["steps"]
    assert any(s["state"] == "would create" and "pivot_key" in s["what"] for s in dry)
    assert properties() == before  # a dry run changes nothing

    assert main(["setup", "hubspot", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)["steps"]
    assert [s["state"] for s in created if "contacts" in s["what"] and "pivot_key" in s["what"]] == ["created"]
    after = properties()
    assert "pivot_key" in after and "pivot_key" not in before
    assert main(["setup", "hubspot", "--json"]) == 0
    assert {s["state"] for s in json.loads(capsys.readouterr().out)["steps"]} <= {"exists", "manual"}
    assert properties() == after  # the second run changed nothing
    assert doctor(capsys, "hubspot")[0] == 0
