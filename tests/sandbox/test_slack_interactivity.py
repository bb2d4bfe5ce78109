"""The Slack sandbox's interactivity flow over real HTTP: a click reaches the app as Slack sends it.

The sandbox runs as its own process (`tests/sandbox/conftest.py`); the "app" is a real HTTP server
on a free loopback port (`app_receiver`). Signatures are checked with slack_sdk's own
`SignatureVerifier`, never with the sandbox's code; answers of the Web API methods are checked
against Slack's OpenAPI spec (the trimmed copy the conformance tests use).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier

from pivot.providers.sandbox_kit.credentials import LOCAL_SIGNING_SECRETS
from tests.providers.test_conformance import SLACK_URI, errors_of
from tests.sandbox.app_receiver import AppReceiver, running_receiver
from tests.sandbox.process import SLACK_TOKEN, free_port, running_sandboxes

CHANNEL = "C024BE91L"
FINANCE, OPS, SOMEONE = "U07FINLEAD", "U07OPSLEAD", "U07SOMEONE"
JSON = {"Content-Type": "application/json; charset=utf-8"}
KEY = "pv1_gate_message"
SUMMARY = {"type": "section", "text": {"type": "mrkdwn", "text": "*Refund 120.00 USD* to cus_9s6XKzkNRiz8i3"}}
BUTTONS = {"type": "actions", "block_id": "gate", "elements": [
    {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"},
     "style": "primary", "value": "gate-7"},
    {"type": "button", "action_id": "reject", "text": {"type": "plain_text", "text": "Reject", "emoji": False},
     "style": "danger", "value": "gate-7"},
]}
PAYLOAD_KEYS = {"type", "user", "api_app_id", "token", "container", "trigger_id", "team", "enterprise",
                "is_enterprise_install", "channel", "message", "state", "response_url", "actions"}


@pytest.fixture
def app() -> Iterator[AppReceiver]:
    with running_receiver() as receiver:
        yield receiver


def call(slack: httpx.Client, method: str, **args: Any) -> dict[str, Any]:
    response = slack.post(f"/api/{method}", content=json.dumps(args), headers=JSON)
    assert response.status_code == 200, response.text
    return dict(response.json())


def post_gate(slack: httpx.Client) -> str:
    body = call(slack, "chat.postMessage", channel=CHANNEL, text="Refund 120.00 USD: approve?",
                blocks=[SUMMARY, BUTTONS], metadata={"event_type": "pivot_gate", "event_payload": {"pivot_key": KEY}})
    assert body["ok"] is True, body
    return str(body["ts"])


def configure(slack: httpx.Client, url: str | None, **more: Any) -> dict[str, Any]:
    response = slack.post("/_sandbox/app", json={"interactivity_url": url, **more})
    assert response.status_code == 200, response.text
    return dict(response.json())


def click(slack: httpx.Client, ts: str, action_id: str = "approve", user: str = FINANCE,
          **faults: Any) -> httpx.Response:
    return slack.post("/_sandbox/click", json={"channel": CHANNEL, "ts": ts, "action_id": action_id,
                                               "user": user, **faults})


def clicked(slack: httpx.Client, ts: str, action_id: str = "approve", user: str = FINANCE,
            **faults: Any) -> dict[str, Any]:
    response = click(slack, ts, action_id, user, **faults)
    assert response.status_code == 200, response.text
    return dict(response.json())


def history(slack: httpx.Client) -> list[dict[str, Any]]:
    body = slack.get("/api/conversations.history", params={"channel": CHANNEL, "include_all_metadata": "true"})
    return list(body.json()["messages"])


def ephemeral(slack: httpx.Client, user: str) -> list[dict[str, Any]]:
    return list(slack.get("/_sandbox/ephemeral", params={"channel": CHANNEL, "user": user}).json()["ephemeral"])


def respond(url: str, **body: Any) -> httpx.Response:
    return httpx.post(url, json=body, timeout=5)


def verified(request: dict[str, Any], secret: str, clock: Clock | None = None) -> bool:
    verifier = SignatureVerifier(secret) if clock is None else SignatureVerifier(secret, clock=clock)
    headers = request["headers"]
    return verifier.is_valid(request["body"], headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


# --------------------------------------------------------------------------- the click


def test_a_click_reaches_the_app_form_encoded_with_the_documented_payload(
        slack: httpx.Client, slack_url: str, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    posted = next(m for m in history(slack) if m["ts"] == ts)

    outcome = clicked(slack, ts)

    assert (outcome["delivered"], outcome["status"], outcome["within_3s"], outcome["acknowledged"],
            outcome["error"]) == (True, 200, True, True, None)
    [arrived] = app.requests
    assert arrived.path == "/slack/interactivity"
    assert arrived.body.decode() == outcome["request"]["body"]
    assert arrived.headers["content-type"] == "application/x-www-form-urlencoded"
    assert arrived.headers["user-agent"].startswith("Slackbot 1.0")
    assert re.fullmatch(r"\d{10}", arrived.headers["x-slack-request-timestamp"])
    assert re.fullmatch(r"v0=[0-9a-f]{64}", arrived.headers["x-slack-signature"])
    form = parse_qs(arrived.body.decode(), strict_parsing=True)
    assert list(form) == ["payload"] and len(form["payload"]) == 1
    assert "\\/" in form["payload"][0]  # Slack's JSON escapes slashes
    payload = json.loads(form["payload"][0])
    assert payload == outcome["payload"]

    assert set(payload) == PAYLOAD_KEYS
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": FINANCE, "username": "finance.lead", "name": "finance.lead",
                               "team_id": "T07PIVOTSB"}
    assert payload["api_app_id"] == posted["app_id"] and isinstance(payload["token"], str)
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False}
    assert re.fullmatch(r"\d+\.\d+\.[0-9a-f]{32}", payload["trigger_id"])
    assert payload["team"] == {"id": "T07PIVOTSB", "domain": "pivot-sandbox"}
    assert (payload["enterprise"], payload["is_enterprise_install"]) == (None, False)
    assert payload["channel"] == {"id": CHANNEL, "name": "general"}
    assert payload["state"] == {"values": {}}
    assert payload["response_url"] == outcome["response_url"]
    assert payload["response_url"].startswith(f"{slack_url}/_sandbox/respond/")
    [action] = payload["actions"]
    assert re.fullmatch(r"\d{10}\.\d{6}", action.pop("action_ts"))
    assert action == {"action_id": "approve", "block_id": "gate", "value": "gate-7", "style": "primary",
                      "type": "button", "text": {"type": "plain_text", "text": "Approve", "emoji": True}}

    # The message as posted, as conversations.history shows it (metadata only where asked for).
    expected = {key: value for key, value in posted.items() if key != "metadata"}
    assert payload["message"] == expected
    [summary, buttons] = payload["message"]["blocks"]
    assert buttons == BUTTONS
    assert {k: v for k, v in summary.items() if k != "block_id"} == SUMMARY and summary["block_id"]


def test_the_signature_verifies_only_when_genuine_and_fresh(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    assert configure(slack, app.url) == {"interactivity_url": app.url, "signing_secret": "configured"}
    local = LOCAL_SIGNING_SECRETS["slack"]

    genuine = clicked(slack, ts)["request"]
    assert verified(genuine, local)
    assert not verified(genuine, local + "x")
    tampered = {**genuine, "body": genuine["body"].replace("approve", "reject")}
    assert not verified(tampered, local)

    bad = clicked(slack, ts, signature="bad")["request"]
    assert not verified(bad, local)

    stale = clicked(slack, ts, timestamp_offset_s=-600)["request"]
    assert not verified(stale, local)
    sent_at = int(stale["headers"]["X-Slack-Request-Timestamp"])
    assert verified(stale, local, FixedClock(sent_at))  # signed consistently with its (old) timestamp

    assert configure(slack, app.url, signing_secret="a-test-secret")["signing_secret"] == "set"
    assert verified(clicked(slack, ts)["request"], "a-test-secret")
    assert len(app.requests) == 4


def test_clicks_slack_would_never_send_are_refused_and_nothing_is_sent(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    response = click(slack, ts)
    assert (response.status_code, response.json()["error"]) == (409, "no_interactivity_url")
    configure(slack, app.url)
    added = slack.post("/_sandbox/users", json={"name": "outsider", "channels": []})
    assert added.status_code == 201, added.text
    outsider = added.json()["id"]

    refusals = {
        "missing button": click(slack, ts, action_id="escalate"),
        "unknown user": click(slack, ts, user="U0NOBODY00"),
        "not in the channel": click(slack, ts, user=outsider),
        "no such message": click(slack, "1700000000.000001"),
        "fault typo": click(slack, ts, signature="forged"),
    }

    assert {why: (r.status_code, r.json()["error"]) for why, r in refusals.items()} == {
        "missing button": (404, "action_not_found"),
        "unknown user": (404, "user_not_found"),
        "not in the channel": (403, "user_not_in_channel"),
        "no such message": (404, "message_not_found"),
        "fault typo": (400, "invalid_click"),
    }
    assert app.requests == []


def test_how_the_app_answered_is_reported(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    app.status, app.answer = 500, b"boom"
    failed = clicked(slack, ts)
    assert (failed["delivered"], failed["status"], failed["body"], failed["within_3s"], failed["acknowledged"]) == (
        True, 500, "boom", True, False)

    app.status, app.answer = 200, b""
    app.hold()  # the app keeps the request open until released: longer than Slack waits
    late = clicked(slack, ts)
    app.release()
    assert (late["delivered"], late["status"], late["within_3s"], late["acknowledged"], late["error"]) == (
        True, None, False, False, "timeout")

    configure(slack, f"http://127.0.0.1:{free_port()}/slack/interactivity")
    nobody = clicked(slack, ts)
    assert (nobody["delivered"], nobody["status"], nobody["error"]) == (False, None, "connection_failed")


def test_the_interactivity_url_stays_on_this_machine(slack: httpx.Client) -> None:
    for url in ("http://example.com/slack", "http://10.0.0.5:8080/slack", "ftp://127.0.0.1/slack",
                "http://127.0.0.1.example.com/slack", "not a url"):
        response = slack.post("/_sandbox/app", json={"interactivity_url": url})
        assert (response.status_code, response.json()["error"]) == (400, "invalid_app_settings"), url
    for url in ("http://localhost:9080/slack", "http://[::1]:9080/slack", "https://127.0.0.1:9443/slack"):
        assert configure(slack, url)["interactivity_url"] == url
    slack.post("/_sandbox/reset").raise_for_status()
    assert slack.get("/_sandbox/app").json() == {"interactivity_url": None, "signing_secret": "configured"}


# --------------------------------------------------------------------------- response_url


def test_replace_original_edits_the_clicked_message_in_history(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    response_url = clicked(slack, ts)["response_url"]
    decided = {"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: Approved by finance.lead"}}

    answer = respond(response_url, replace_original=True, text="Approved by finance.lead", blocks=[decided])

    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    [message] = history(slack)
    assert (message["ts"], message["text"]) == (ts, "Approved by finance.lead")
    [block] = message["blocks"]
    assert {k: v for k, v in block.items() if k != "block_id"} == decided
    assert message["edited"]["user"] == message["user"]
    assert message["metadata"]["event_payload"]["pivot_key"] == KEY  # the key stays on the message
    updates = slack.get("/_sandbox/ledger", params={"key": KEY, "op": "update"}).json()["effects"]
    assert [(e["object"], e["id"], e["detail"]) for e in updates] == [
        ("message", ts, {"channel": CHANNEL, "via": "response_url"})]
    # The buttons are gone: a later click on them is one Slack could not send.
    assert click(slack, ts).json()["error"] == "action_not_found"


def test_ephemeral_replies_are_shown_to_that_user_only(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    response_url = clicked(slack, ts, user=SOMEONE)["response_url"]

    assert respond(response_url, text="You are not an approver of this refund").json() == {"ok": True}
    sent = call(slack, "chat.postEphemeral", channel=CHANNEL, user=OPS, text="Your approval is requested")

    assert sent["ok"] is True and re.fullmatch(r"\d{10}\.\d{6}", sent["message_ts"])
    assert errors_of(sent, SLACK_URI, "paths", "/chat.postEphemeral", "post", "responses", "200", "schema") == []
    [mine] = ephemeral(slack, SOMEONE)
    assert (mine["text"], mine["via"], mine["channel"]) == ("You are not an approver of this refund", "response_url",
                                                            CHANNEL)
    assert [e["text"] for e in ephemeral(slack, OPS)] == ["Your approval is requested"]
    assert ephemeral(slack, FINANCE) == []
    assert [m["ts"] for m in history(slack)] == [ts]  # an ephemeral message is in no history
    sends = slack.get("/_sandbox/ledger", params={"object": "ephemeral"}).json()["effects"]
    assert [(e["op"], e["detail"]["user"], e["detail"]["via"]) for e in sends] == [
        ("send", SOMEONE, "response_url"), ("send", OPS, "chat.postEphemeral")]


def test_a_response_url_serves_five_uses(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    response_url = clicked(slack, ts)["response_url"]

    answers = [respond(response_url, text=f"update {n}") for n in range(6)]

    assert [(a.status_code, a.json()) for a in answers] == [(200, {"ok": True})] * 5 + [
        (404, {"ok": False, "error": "used_url"})]
    assert len(ephemeral(slack, FINANCE)) == 5
    assert respond(clicked(slack, ts)["response_url"], text="a new click, a new URL").status_code == 200


def test_in_channel_delete_original_and_refused_bodies(slack: httpx.Client, app: AppReceiver) -> None:
    ts = post_gate(slack)
    configure(slack, app.url)
    response_url = clicked(slack, ts)["response_url"]

    assert respond(response_url).json() == {"ok": False, "error": "no_text"}
    assert respond(response_url, text="x", blocks="not blocks").json()["error"] == "invalid_blocks"
    assert httpx.post(response_url, content=b"{", headers=JSON).json() == {"ok": False, "error": "invalid_payload"}
    assert respond(response_url, response_type="in_channel", text="Refund approved").json() == {"ok": True}
    assert [m["text"] for m in history(slack)] == ["Refund approved", "Refund 120.00 USD: approve?"]
    assert respond(response_url, delete_original=True).json() == {"ok": True}
    assert [m["text"] for m in history(slack)] == ["Refund approved"]
    assert respond(response_url, replace_original=True, text="too late").json() == {
        "ok": False, "error": "message_not_found"}
    assert respond(f"{response_url}x", text="never minted").status_code == 404


# --------------------------------------------------------------------------- members and official clients


def test_members_users_info_and_the_official_web_client(slack: httpx.Client, slack_url: str) -> None:
    listed = slack.get("/_sandbox/users").json()["users"]
    assert [(u["id"], u["name"], u["channels"]) for u in listed] == [
        (FINANCE, "finance.lead", [CHANNEL]), (OPS, "ops.lead", [CHANNEL]), (SOMEONE, "someone.else", [CHANNEL])]
    added = slack.post("/_sandbox/users", json={"id": "U07DANAFIN", "name": "dana", "real_name": "Dana Ruiz",
                                                "email": "dana@example.com"})
    assert added.status_code == 201
    assert slack.post("/_sandbox/users", json={"id": "U07DANAFIN", "name": "again"}).status_code == 400
    assert slack.post("/_sandbox/users", json={"name": "x", "channels": ["C0NOPE"]}).status_code == 400

    client = WebClient(token=SLACK_TOKEN, base_url=f"{slack_url}/api/")
    info = client.users_info(user="U07DANAFIN")
    assert (info["user"]["name"], info["user"]["real_name"], info["user"]["profile"]["email"]) == (
        "dana", "Dana Ruiz", "dana@example.com")
    assert errors_of(info.data, SLACK_URI, "paths", "/users.info", "get", "responses", "200", "schema") == []
    assert errors_of(info["user"], SLACK_URI, "definitions", "objs_user", "items", "0") == []
    sent = client.chat_postEphemeral(channel=CHANNEL, user="U07DANAFIN", text="hello Dana")
    assert sent["ok"] is True and sent["message_ts"]
    assert [e["text"] for e in ephemeral(slack, "U07DANAFIN")] == ["hello Dana"]

    with pytest.raises(SlackApiError) as unknown:
        client.users_info(user="U0NOBODY00")
    assert unknown.value.response["error"] == "user_not_found"
    outsider = slack.post("/_sandbox/users", json={"name": "outsider", "channels": []}).json()["id"]
    with pytest.raises(SlackApiError) as outside:
        client.chat_postEphemeral(channel=CHANNEL, user=outsider, text="hi")
    assert outside.value.response["error"] == "user_not_in_channel"
    assert errors_of(outside.value.response.data, SLACK_URI, "paths", "/chat.postEphemeral", "post", "responses",
                     "default", "schema") == []
    slack.post("/_sandbox/reset").raise_for_status()
    assert [u["id"] for u in slack.get("/_sandbox/users").json()["users"]] == [FINANCE, OPS, SOMEONE]


def test_a_narrow_token_needs_the_scopes_of_the_new_methods(slack: httpx.Client, slack_url: str) -> None:
    slack.post("/_sandbox/tokens", json={"token": "xoxb-narrow-ephemeral", "scopes": ["channels:history"]})
    narrow = WebClient(token="xoxb-narrow-ephemeral", base_url=f"{slack_url}/api/")
    with pytest.raises(SlackApiError) as ephemeral_refused:
        narrow.chat_postEphemeral(channel=CHANNEL, user=OPS, text="hi")
    with pytest.raises(SlackApiError) as info_refused:
        narrow.users_info(user=OPS)
    assert (ephemeral_refused.value.response["error"], ephemeral_refused.value.response["needed"]) == (
        "missing_scope", "chat:write")
    assert (info_refused.value.response["error"], info_refused.value.response["needed"]) == (
        "missing_scope", "users:read")


# --------------------------------------------------------------------------- the process's settings


def test_the_process_takes_its_secret_and_url_from_the_environment(
        app: AppReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIVOT_SANDBOX_SLACK_SIGNING_SECRET", "env-signing-secret-0123456789abcd")
    monkeypatch.setenv("PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL", app.url)
    with running_sandboxes(("slack",)) as handle, httpx.Client(
            base_url=handle.urls["slack"], headers={"Authorization": f"Bearer {SLACK_TOKEN}"}, timeout=5) as slack:
        slack.post("/_sandbox/app", json={"interactivity_url": None, "signing_secret": "other"}).raise_for_status()
        slack.post("/_sandbox/reset").raise_for_status()  # a reset returns to what the process was started with
        assert slack.get("/_sandbox/app").json() == {"interactivity_url": app.url, "signing_secret": "configured"}
        ts = post_gate(slack)
        assert verified(clicked(slack, ts)["request"], "env-signing-secret-0123456789abcd")
        assert handle.stop() == 0

    monkeypatch.setenv("PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL", "http://example.com/slack")
    with pytest.raises(RuntimeError, match="loopback"), running_sandboxes(("slack",)):
        pass  # the process refuses to start
