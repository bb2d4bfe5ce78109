"""Slack's side of an interactivity request: the `block_actions` payload, its form body, its signature.

What Slack sends an app's Interactivity Request URL when a user clicks a Block Kit button
(docs.slack.dev: "block_actions payload", "Handling user interaction", "Verifying requests from Slack"):

- `POST`, `Content-Type: application/x-www-form-urlencoded`, body `payload=<the JSON, form-encoded>`;
- `X-Slack-Request-Timestamp: <unix seconds>` and
  `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + raw body)>`;
- the JSON: `type` "block_actions", `user` {id, username, name, team_id}, `api_app_id`, `token` (the
  legacy verification token), `container` {type "message", message_ts, channel_id, is_ephemeral,
  thread_ts when threaded}, `trigger_id`, `team` {id, domain}, `enterprise` (null),
  `is_enterprise_install`, `channel` {id, name}, `message` (the message as it is at click time, blocks
  included), `state` {values: {}}, `response_url`, `actions` [{action_id, block_id, text {type
  plain_text, text, emoji}, value, style (when the button has one), type "button", action_ts}].

The JSON is written the way Slack writes it: compact, non-ASCII as `\\u` escapes and `/` as `\\/`
(any JSON parser reads both). The signature is computed here from Slack's documented recipe, on
purpose not with slack_sdk: the tests verify it with slack_sdk's `SignatureVerifier`, so the two
sides are independent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

VERIFICATION_TOKEN = "pivotlocalVerificationTkn"
"""The legacy verification token every payload carries (deprecated by Slack; apps verify the signature)."""
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass(frozen=True)
class Button:
    """A clicked button and the block holding it."""

    block_id: str
    element: dict[str, Any]


def buttons(blocks: list[Any] | None) -> Iterator[Button]:
    """Every button of a message: elements of `actions` blocks and `section` accessories."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        candidates: list[Any] = []
        if block.get("type") == "actions" and isinstance(block.get("elements"), list):
            candidates = block["elements"]
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            candidates = [block["accessory"]]
        for element in candidates:
            if isinstance(element, dict) and element.get("type") == "button":
                yield Button(block_id, element)


def find_button(blocks: list[Any] | None, action_id: str) -> Button | None:
    return next((button for button in buttons(blocks) if button.element.get("action_id") == action_id), None)


def action_ts() -> str:
    """Unix time with microseconds, as Slack stamps an action."""
    seconds, micros = divmod(time.time_ns() // 1000, 1_000_000)
    return f"{seconds}.{micros:06d}"


def trigger_id() -> str:
    """A short-lived id in Slack's shape (`<digits>.<digits>.<32 hex>`); nothing here opens modals with it."""
    return f"{secrets.randbelow(10**13):013d}.{secrets.randbelow(10**13):013d}.{secrets.token_hex(16)}"


def clicked_action(button: Button) -> dict[str, Any]:
    """The `actions[0]` of the payload: what the button was, when it was clicked."""
    element = button.element
    label: dict[str, Any] = element["text"] if isinstance(element.get("text"), dict) else {}
    action: dict[str, Any] = {
        "action_id": element.get("action_id"),
        "block_id": button.block_id,
        "text": {"type": "plain_text", "text": str(label.get("text", "")), "emoji": bool(label.get("emoji", True))},
    }
    if "value" in element:
        action["value"] = element["value"]
    if "style" in element:
        action["style"] = element["style"]
    action.update({"type": "button", "action_ts": action_ts()})
    return action


@dataclass(frozen=True)
class ClickContext:
    """Who clicked what, where: everything the payload names besides the message itself."""

    user: dict[str, str]
    app_id: str
    team: dict[str, str]
    channel_id: str
    channel_name: str
    message_ts: str
    thread_ts: str | None
    response_url: str


def block_actions_payload(context: ClickContext, message: dict[str, Any], button: Button) -> dict[str, Any]:
    """The JSON Slack posts for a click on `button` in `message` (rendered as conversations.history shows it)."""
    container: dict[str, Any] = {"type": "message", "message_ts": context.message_ts,
                                 "channel_id": context.channel_id, "is_ephemeral": False}
    if context.thread_ts is not None:
        container["thread_ts"] = context.thread_ts
    return {
        "type": "block_actions",
        "user": context.user,
        "api_app_id": context.app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id(),
        "team": context.team,
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": context.channel_id, "name": context.channel_name},
        "message": message,
        "state": {"values": {}},
        "response_url": context.response_url,
        "actions": [clicked_action(button)],
    }


def form_body(payload: dict[str, Any]) -> str:
    """`payload=<JSON>` form-encoded, the JSON compact with `/` escaped as Slack writes it."""
    text = json.dumps(payload, separators=(",", ":")).replace("/", "\\/")
    return urlencode({"payload": text})


def signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature of `body` sent at `timestamp`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: str, body: str) -> dict[str, str]:
    """The headers of Slack's request: content type, Slack's user agent, timestamp and signature."""
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": SLACK_USER_AGENT,
        "Accept": "application/json,*/*",
        "Accept-Encoding": "gzip,deflate",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(secret, timestamp, body),
    }
