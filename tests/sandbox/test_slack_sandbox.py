"""The Slack sandbox over real HTTP: Web API methods, ok:false errors, history, faults, ledger."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

CHANNEL = "C024BE91L"
SLACK_TOKEN = "xoxb-1234-5678-pivotsandbox"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def effects(client: httpx.Client, key: str | None = None) -> list[dict[str, Any]]:
    response = client.get("/_sandbox/ledger", params={"key": key} if key is not None else None)
    response.raise_for_status()
    return list(response.json()["effects"])


def add_fault(client: httpx.Client, **rule: Any) -> None:
    assert client.post("/_sandbox/faults", json=rule).status_code == 201


def call(client: httpx.Client, method: str, **payload: Any) -> dict[str, Any]:
    response = client.post(f"/api/{method}", content=json.dumps(payload), headers=JSON)
    assert response.status_code == 200, response.text
    return dict(response.json())


def post(client: httpx.Client, text: str, key: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"channel": CHANNEL, "text": text}
    if key is not None:
        payload["metadata"] = {"event_type": "pivot_saga_step", "event_payload": {"pivot_key": key}}
    body = call(client, "chat.postMessage", **payload)
    assert body["ok"] is True, body
    return body


def test_missing_or_bad_token_is_ok_false_with_http_200(slack_url: str) -> None:
    response = httpx.post(
        f"{slack_url}/api/chat.postMessage", content=json.dumps({"channel": CHANNEL}), headers=JSON
    )
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": "not_authed"})
    # Like slack.com, JSON without a charset is accepted with a warning.
    response = httpx.post(f"{slack_url}/api/chat.postMessage", json={"channel": CHANNEL, "text": "hi"})
    assert response.json() == {
        "ok": False,
        "error": "not_authed",
        "warning": "missing_charset",
        "response_metadata": {"warnings": ["missing_charset"]},
    }
    # A token inside a JSON body does not count: JSON needs the header.
    response = httpx.post(
        f"{slack_url}/api/chat.postMessage", json={"token": SLACK_TOKEN, "channel": CHANNEL, "text": "hi"}
    )
    assert response.json()["error"] == "not_authed"
    response = httpx.post(f"{slack_url}/api/auth.test", headers={"Authorization": "Bearer nope-123456789"})
    assert response.json() == {"ok": False, "error": "invalid_auth"}


def test_form_body_may_carry_the_token(slack_url: str) -> None:
    response = httpx.post(
        f"{slack_url}/api/chat.postMessage",
        data={
            "token": SLACK_TOKEN,
            "channel": CHANNEL,
            "text": "form",
            "metadata": json.dumps({"event_type": "t", "event_payload": {"pivot_key": "pv1_form"}}),
        },
    )
    body = response.json()
    assert body["ok"] is True
    assert body["message"]["metadata"]["event_payload"] == {"pivot_key": "pv1_form"}
    assert (
        httpx.post(f"{slack_url}/api/chat.postMessage", data={"channel": CHANNEL}).json()["error"]
        == "not_authed"
    )


def test_post_message_shape_and_ledger(slack: httpx.Client) -> None:
    body = post(slack, "Invoice ABC-0001 is on its way", key="pv1_msg")
    assert body["channel"] == CHANNEL
    assert re.fullmatch(r"\d{10}\.\d{6}", body["ts"])
    message = body["message"]
    assert (message["type"], message["text"], message["ts"]) == (
        "message",
        "Invoice ABC-0001 is on its way",
        body["ts"],
    )
    assert (
        message["user"].startswith("U")
        and message["bot_id"].startswith("B")
        and message["app_id"].startswith("A")
    )
    assert message["metadata"] == {"event_type": "pivot_saga_step", "event_payload": {"pivot_key": "pv1_msg"}}
    assert [(e["op"], e["object"], e["id"], e["idempotency_key"]) for e in effects(slack)] == [
        ("send", "message", body["ts"], "pv1_msg")
    ]


def test_post_message_errors(slack: httpx.Client) -> None:
    assert call(slack, "chat.postMessage", channel="C0NOPE", text="x") == {
        "ok": False,
        "error": "channel_not_found",
    }
    assert call(slack, "chat.postMessage", channel=CHANNEL) == {"ok": False, "error": "no_text"}
    assert (
        call(slack, "chat.postMessage", channel=CHANNEL, text="x", metadata="{bad")["error"]
        == "invalid_metadata_format"
    )
    response = slack.post("/api/chat.nothing", json={})
    assert response.json()["error"] == "unknown_method"
    assert effects(slack) == []


def test_channel_may_be_given_by_name_and_ts_strictly_increases(slack: httpx.Client) -> None:
    stamps = [call(slack, "chat.postMessage", channel="#general", text=str(i))["ts"] for i in range(20)]
    keys = [tuple(int(part) for part in ts.split(".")) for ts in stamps]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_history_is_newest_first_with_cursor_pagination(slack: httpx.Client) -> None:
    stamps = [post(slack, f"m{i}")["ts"] for i in range(5)]
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        response = slack.get(
            "/api/conversations.history", params={"channel": CHANNEL, "limit": 2, "cursor": cursor}
        )
        page = response.json()
        assert page["ok"] is True and page["pin_count"] == 0
        seen += [m["ts"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            assert cursor == ""
            break
        assert cursor
    assert seen == stamps[::-1]
    assert pages == 3
    bad = slack.get("/api/conversations.history", params={"channel": CHANNEL, "cursor": "!!"}).json()
    assert bad == {"ok": False, "error": "invalid_cursor"}


def test_history_metadata_only_with_include_all_metadata(slack: httpx.Client) -> None:
    ts = post(slack, "keyed", key="pv1_h")["ts"]
    plain = slack.get("/api/conversations.history", params={"channel": CHANNEL}).json()["messages"][0]
    assert "metadata" not in plain
    full = slack.get(
        "/api/conversations.history", params={"channel": CHANNEL, "include_all_metadata": "true"}
    )
    assert full.json()["messages"][0]["metadata"]["event_payload"]["pivot_key"] == "pv1_h"
    assert full.json()["messages"][0]["ts"] == ts


def test_history_latest_inclusive_limit_one_reads_back_one_message(slack: httpx.Client) -> None:
    first = post(slack, "first")["ts"]
    post(slack, "second")
    exact = slack.get(
        "/api/conversations.history",
        params={"channel": CHANNEL, "latest": first, "inclusive": "true", "limit": 1},
    ).json()
    assert [m["text"] for m in exact["messages"]] == ["first"]
    exclusive = slack.get("/api/conversations.history", params={"channel": CHANNEL, "latest": first}).json()
    assert exclusive["messages"] == []
    newer = slack.get("/api/conversations.history", params={"channel": CHANNEL, "oldest": first}).json()
    assert [m["text"] for m in newer["messages"]] == ["second"]


def test_update_and_delete(slack: httpx.Client) -> None:
    ts = post(slack, "draft", key="pv1_ud")["ts"]
    updated = call(slack, "chat.update", channel=CHANNEL, ts=ts, text="final")
    assert (updated["ok"], updated["channel"], updated["ts"], updated["text"]) == (True, CHANNEL, ts, "final")
    assert updated["message"]["text"] == "final"
    history = slack.get("/api/conversations.history", params={"channel": CHANNEL}).json()
    assert history["messages"][0]["text"] == "final"
    assert history["messages"][0]["edited"]["user"].startswith("U")
    assert call(slack, "chat.delete", channel=CHANNEL, ts=ts) == {"ok": True, "channel": CHANNEL, "ts": ts}
    assert slack.get("/api/conversations.history", params={"channel": CHANNEL}).json()["messages"] == []
    assert call(slack, "chat.delete", channel=CHANNEL, ts=ts) == {"ok": False, "error": "message_not_found"}
    assert (
        call(slack, "chat.update", channel=CHANNEL, ts="1.000001", text="x")["error"] == "message_not_found"
    )
    assert [e["op"] for e in effects(slack, "pv1_ud")] == ["send", "update", "delete"]


def test_auth_test(slack: httpx.Client) -> None:
    body = call(slack, "auth.test")
    assert body["ok"] is True
    assert body["team_id"].startswith("T") and body["user_id"].startswith("U")


def test_rate_limit_fault_is_a_real_429(slack: httpx.Client) -> None:
    add_fault(slack, path="/api/chat.postMessage", action="rate_limit", retry_after=3, times=1)
    response = slack.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": "x"})
    assert (response.status_code, response.json()) == (429, {"ok": False, "error": "ratelimited"})
    assert response.headers["Retry-After"] == "3"
    assert effects(slack) == []
    assert call(slack, "chat.postMessage", channel=CHANNEL, text="x")["ok"] is True


def test_error_fault_executes_nothing(slack: httpx.Client) -> None:
    add_fault(slack, method="POST", path="/api/chat.*", action="error", status=500, times=1)
    response = slack.post("/api/chat.postMessage", json={"channel": CHANNEL, "text": "x"})
    assert (response.status_code, response.json()) == (500, {"ok": False, "error": "internal_error"})
    assert effects(slack) == []
    assert slack.get("/api/conversations.history", params={"channel": CHANNEL}).json()["messages"] == []


def test_commit_then_timeout_posts_the_message(slack: httpx.Client, slack_url: str) -> None:
    add_fault(slack, path="/api/chat.postMessage", action="commit_then_timeout", hang_s=2, times=1)
    with (
        httpx.Client(
            base_url=slack_url, headers=slack.headers, timeout=httpx.Timeout(5, read=1)
        ) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        post(impatient, "lost answer", key="pv1_lost")
    landed = effects(slack, "pv1_lost")
    assert [e["op"] for e in landed] == ["send"]
    history = slack.get(
        "/api/conversations.history", params={"channel": CHANNEL, "include_all_metadata": "true"}
    )
    assert history.json()["messages"][0]["ts"] == landed[0]["id"]


def test_serving_a_single_sandbox_and_stopping_cleanly(
    sandbox_launcher: Callable[[tuple[str, ...]], AbstractContextManager[Any]],
) -> None:
    """Flags may be omitted; SIGTERM ends the process with exit code 0."""
    with sandbox_launcher(("slack",)) as handle:
        assert set(handle.urls) == {"slack"}
        assert httpx.get(f"{handle.urls['slack']}/_sandbox/health").json() == {"ok": True}
        assert handle.stop() == 0


def test_history_and_replies_carry_slacks_envelope_fields(slack: httpx.Client) -> None:
    parent = post(slack, "parent")["ts"]
    call(slack, "chat.postMessage", channel=CHANNEL, text="reply", thread_ts=parent)

    history = slack.get("/api/conversations.history", params={"channel": CHANNEL}).json()
    replies = slack.get("/api/conversations.replies", params={"channel": CHANNEL, "ts": parent}).json()

    assert (history["pin_count"], history["channel_actions_ts"], history["channel_actions_count"]) == (0, None, 0)
    assert "pin_count" not in replies and replies["response_metadata"] == {"next_cursor": ""}
    profile = history["messages"][0]["bot_profile"]
    assert set(profile["icons"]) == {"image_36", "image_48", "image_72"} and isinstance(profile["updated"], int)
    assert [m["text"] for m in replies["messages"]] == ["parent", "reply"]


def test_the_recorder_sees_slack_calls(slack: httpx.Client) -> None:
    slack.delete("/_sandbox/requests").raise_for_status()
    post(slack, "recorded")
    recorded = slack.get("/_sandbox/requests", params={"path": "/api/chat.*"}).json()["requests"]
    assert [(r["path"], r["status"]) for r in recorded] == [("/api/chat.postMessage", 200)]
    assert json.loads(recorded[0]["body"]) == {"channel": CHANNEL, "text": "recorded"}
    assert recorded[0]["response_body"]["ok"] is True and recorded[0]["headers"]["authorization"] == "[redacted]"
