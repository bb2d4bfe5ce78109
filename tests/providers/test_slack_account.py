"""`pivot doctor` and `pivot setup` for Slack against the Slack sandbox, and the sandbox's side of it.

The sandbox's token book (`/_sandbox/tokens`) makes a token revoked or narrows its scopes; the
account must then name the problem and its fix, and the Slack actions must meet the same refusal
that doctor predicted. Answers are checked against Slack's OpenAPI spec (the trimmed copy the
conformance tests use). No credential may appear in any check or step.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.account_kit import API_CHECKS
from pivot.providers.http import Endpoint
from pivot.providers.slack.account import REQUIRED_SCOPES, SlackAccount
from pivot.providers.slack.actions import slack_actions
from pivot.providers.slack.client import SlackClient
from pivot.providers.slack.sandbox.scopes import SANDBOX_SCOPES
from tests.providers.account_helpers import assert_no_secret, by_name
from tests.providers.test_conformance import SLACK_URI, errors_of
from tests.sandbox.process import SLACK_TOKEN, free_port

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

CHANNEL = "C024BE91L"
TOKEN_ENV = "PIVOT_TEST_SLACK_TOKEN"
"""Where the catalog fixtures put the token (the `sandbox` fixture sets it)."""
ALL_CHECKS = list(API_CHECKS)


def client_for(url: str) -> SlackClient:
    return SlackClient(Endpoint(provider="slack", base_url=url, credential_env=TOKEN_ENV, timeout_s=1.0,
                                label="Slack"))


def register(sandbox: Boxes, **rule: Any) -> None:
    response = sandbox.slack.raw.post("/_sandbox/tokens", json=rule)
    assert response.status_code == 201, response.text


def other_token(kind: str) -> str:
    return f"xoxb-{kind}-{uuid.uuid4().hex[:12]}"




def api(sandbox: Boxes, method: str, token: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{sandbox.slack.url}/api/{method}", params=params,
                     headers={"Authorization": f"Bearer {token}"}, timeout=5)


@pytest.fixture
async def narrow_client(sandbox: Boxes, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SlackClient]:
    """A client whose token has only chat:write (the sandbox's raw client keeps every scope)."""
    token = other_token("narrow")
    register(sandbox, token=token, scopes=["chat:write"])
    monkeypatch.setenv(TOKEN_ENV, token)
    client = client_for(sandbox.slack.url)
    yield client
    await client.http.aclose()


# --------------------------------------------------------------------------- doctor


async def test_doctor_is_all_green_against_a_fresh_sandbox(slack_client: SlackClient) -> None:
    checks = await SlackAccount(slack_client).checks()

    assert [check.name for check in checks] == ALL_CHECKS
    assert [check for check in checks if not check.ok] == []
    assert all(check.provider == "slack" and check.connection == "default" and check.fix == "" for check in checks)
    found = by_name(checks)
    assert "T07PIVOTSB" in found["credentials"].detail and "U07PIVOTBT" in found["credentials"].detail
    assert "granted: chat:write, channels:history, groups:history" in found["scopes"].detail
    assert_no_secret(checks, SLACK_TOKEN)


async def test_a_revoked_token_fails_the_credentials_and_says_what_to_do(
    sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = other_token("revoked")
    register(sandbox, token=token, revoked=True)
    monkeypatch.setenv(TOKEN_ENV, token)
    client = client_for(sandbox.slack.url)
    try:
        checks = by_name(await SlackAccount(client).checks())
    finally:
        await client.http.aclose()

    credentials = checks["credentials"]
    assert not credentials.ok and "invalid_auth" in credentials.detail and TOKEN_ENV in credentials.detail
    assert TOKEN_ENV in credentials.fix and "xoxb" in credentials.fix
    assert not checks["scopes"].ok and checks["scopes"].fix
    assert checks["reachable"].ok and checks["clock"].ok  # the failing check hides none of the others
    assert_no_secret(list(checks.values()), token)


async def test_a_missing_scope_is_named_with_its_fix_and_the_actions_meet_it(
    narrow_client: SlackClient, sandbox: Boxes
) -> None:
    checks = by_name(await SlackAccount(narrow_client).checks())

    scopes = checks["scopes"]
    assert not scopes.ok
    assert "lacks channels:history, groups:history (" in scopes.detail
    assert "reinstall the app" in scopes.fix and "channels:history, groups:history" in scopes.fix
    assert checks["credentials"].ok
    post = next(action for action in slack_actions(narrow_client) if action.name == "slack.post_message")
    keys = StepKeys.derive(f"test-{uuid.uuid4().hex[:12]}", "step", post.name)
    with pytest.raises(ProviderRejected) as refused:
        await post.forward(post.params.model_validate({"channel": CHANNEL, "text": "hello"}), keys)
    assert refused.value.info.code == "missing_scope"
    assert sandbox.slack.effects() == []  # the key scan was refused before anything was posted


async def test_the_required_scopes_are_enough_for_every_slack_action(
    sandbox: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doctor's list is not a guess: a token with exactly those scopes runs the whole catalog."""
    token = other_token("exact")
    register(sandbox, token=token, scopes=list(REQUIRED_SCOPES))
    monkeypatch.setenv(TOKEN_ENV, token)
    client = client_for(sandbox.slack.url)
    actions = {action.name: action for action in slack_actions(client)}

    async def step(name: str, params: dict[str, Any], *, undo: bool = False) -> dict[str, Any]:
        action = actions[name]
        keys = StepKeys.derive(f"test-{uuid.uuid4().hex[:12]}", "step", name)
        model = action.params.model_validate(params)
        result = await action.forward(model, keys)
        if undo:
            assert action.compensate is not None
            await action.compensate(model, keys, result)
        return result

    try:
        assert all(check.ok for check in await SlackAccount(client).checks())
        parent = await step("slack.post_message", {"channel": CHANNEL, "text": "Invoice 7", "on_undo": "correct"},
                            undo=True)
        await step("slack.post_message", {"channel": CHANNEL, "text": "reply", "thread_ts": parent["ts"]})
        await step("slack.update_message", {"channel": CHANNEL, "ts": parent["ts"], "text": "Invoice 7 void"},
                   undo=True)
        await step("slack.post_message", {"channel": CHANNEL, "text": "bye", "on_undo": "delete"}, undo=True)
    finally:
        await client.http.aclose()
    assert {effect["op"] for effect in sandbox.slack.effects()} == {"send", "update", "delete"}


async def test_an_unreachable_base_url_is_one_failing_check_naming_it(sandbox: Boxes) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = client_for(url)
    try:
        account = SlackAccount(client)
        checks = await account.checks()
        steps = await account.setup(dry_run=True)
    finally:
        await client.http.aclose()

    assert len(checks) == 1
    assert checks[0].name == "reachable" and not checks[0].ok
    assert url in checks[0].detail and "cannot connect" in checks[0].detail and url in checks[0].fix
    assert [step.state for step in steps] == ["exists", "manual"] and url in steps[1].detail


async def test_a_missing_credential_variable_is_named(slack_client: SlackClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    checks = await SlackAccount(slack_client).checks()
    assert [(check.name, check.ok) for check in checks] == [("credentials", False)]
    assert TOKEN_ENV in checks[0].detail and TOKEN_ENV in checks[0].fix


async def test_a_rate_limited_token_fails_the_rate_limit_check(slack_client: SlackClient, sandbox: Boxes) -> None:
    sandbox.slack.fault(method="GET", path="/api/auth.test", action="rate_limit", retry_after=7, times=1)
    checks = by_name(await SlackAccount(slack_client).checks())
    assert not checks["rate limit"].ok and "Retry-After 7s" in checks["rate limit"].detail
    assert checks["reachable"].ok


# --------------------------------------------------------------------------- setup


async def test_setup_names_exactly_the_missing_scopes_and_changes_nothing(
    narrow_client: SlackClient, sandbox: Boxes
) -> None:
    sandbox.slack.raw.delete("/_sandbox/requests").raise_for_status()
    account = SlackAccount(narrow_client)
    for dry_run in (True, False):
        steps = await account.setup(dry_run=dry_run)

        manual = [step.what for step in steps if step.state == "manual"]
        assert manual == ["bot token scope channels:history", "bot token scope groups:history",
                          "reinstall the app to the workspace"]
        assert {step.what for step in steps if step.state == "exists"} == {
            "bot token scope chat:write", "key carrier: message metadata (event_payload.pivot_key)"}
        assert "channels:history" in steps[2].detail and "api.slack.com/apps" in steps[2].detail
        assert all(step.provider == "slack" for step in steps)
    assert sandbox.slack.effects() == []
    assert {request["path"] for request in sandbox.slack.requests()} == {"/api/auth.test"}


async def test_setup_against_a_full_token_has_nothing_manual(slack_client: SlackClient) -> None:
    steps = await SlackAccount(slack_client).setup(dry_run=False)
    assert [step.state for step in steps] == ["exists"] * (1 + len(REQUIRED_SCOPES))
    assert_no_secret(steps, SLACK_TOKEN)


# --------------------------------------------------------------------------- the sandbox's side


async def test_auth_test_answers_slacks_fields_and_the_tokens_scopes(sandbox: Boxes) -> None:
    response = api(sandbox, "auth.test", SLACK_TOKEN)

    body = response.json()
    assert response.status_code == 200 and body["ok"] is True
    assert errors_of(body, SLACK_URI, "paths", "/auth.test", "get", "responses", "200", "schema") == []
    assert {"team", "team_id", "user", "user_id", "bot_id", "url"} <= set(body)
    assert response.headers["x-oauth-scopes"] == ",".join(SANDBOX_SCOPES)
    assert response.headers["x-accepted-oauth-scopes"] == ""


async def test_a_narrowed_token_gets_missing_scope_with_needed_and_provided(sandbox: Boxes) -> None:
    token = other_token("narrow")
    register(sandbox, token=token, scopes=["chat:write"])

    response = api(sandbox, "conversations.history", token, channel=CHANNEL)
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error": "missing_scope", "needed": "channels:history",
                               "provided": "chat:write"}
    assert errors_of(response.json(), SLACK_URI, "paths", "/conversations.history", "get", "responses", "default",
                     "schema") == []
    assert response.headers["x-oauth-scopes"] == "chat:write"
    assert response.headers["x-accepted-oauth-scopes"] == "channels:history,groups:history,im:history,mpim:history"
    private = api(sandbox, "conversations.replies", token, channel="G0PRIVATE1", ts="1.000001").json()
    assert (private["error"], private["needed"]) == ("missing_scope", "groups:history")
    posted = httpx.post(f"{sandbox.slack.url}/api/chat.postMessage", json={"channel": CHANNEL, "text": "hi"},
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/json; charset=utf-8"}, timeout=5)
    assert posted.json()["ok"] is True  # chat:write is there
    assert api(sandbox, "auth.test", token).json()["ok"] is True  # auth.test needs no scope


async def test_a_revoked_token_is_invalid_auth_without_scope_headers(sandbox: Boxes) -> None:
    token = other_token("revoked")
    register(sandbox, token=token, revoked=True)

    response = api(sandbox, "auth.test", token)
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": "invalid_auth"})
    assert errors_of(response.json(), SLACK_URI, "paths", "/auth.test", "get", "responses", "default",
                     "schema") == []
    assert "x-oauth-scopes" not in response.headers


async def test_the_token_book_is_listed_and_reset_clears_it(sandbox: Boxes) -> None:
    token = other_token("revoked")
    register(sandbox, token=token, revoked=True)
    listed = sandbox.slack.raw.get("/_sandbox/tokens").json()["tokens"]
    assert listed == [{"token": token, "scopes": None, "revoked": True}]

    sandbox.slack.raw.post("/_sandbox/reset").raise_for_status()
    assert sandbox.slack.raw.get("/_sandbox/tokens").json() == {"tokens": []}
    assert api(sandbox, "auth.test", token).json() == {"ok": False, "error": "invalid_auth"}  # unknown again
    assert api(sandbox, "auth.test", SLACK_TOKEN).json()["ok"] is True  # the configured token is kept
