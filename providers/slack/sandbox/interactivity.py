"""Slack's interactivity flow in the sandbox: a click reaches the app exactly as real Slack sends it.

A test (or the local stack) plays the user; the sandbox plays Slack:

    POST /_sandbox/app    {"interactivity_url": "http://127.0.0.1:9080/slack/interactivity",
                           "signing_secret"?: "…"}
        The Slack app's Interactivity Request URL (loopback only: http(s)://127.0.0.1, localhost or
        [::1]; anything else is refused, so the sandbox never calls out of the machine) and its signing
        secret. Answers {"interactivity_url", "signing_secret": "configured" | "set"} (never the secret).
        `GET` shows the same. A reset returns both to what the process was started with:
        `PIVOT_SANDBOX_SLACK_SIGNING_SECRET` (else the local fake) and
        `PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL` (else none).

    POST /_sandbox/click  {"channel": "C024BE91L", "ts": "<message ts>", "action_id": "approve",
                           "user": "U07FINLEAD",
                           "signature"?: "valid" | "bad", "timestamp_offset_s"?: 0}
        Finds the message and the button, builds the `block_actions` payload (see `payloads`), signs
        it and POSTs it to the interactivity URL, waiting at most 3 s (Slack's window; Slack never
        retries an interactivity request). Answers 200 with
        {"delivered", "status", "body", "within_3s", "acknowledged", "error", "response_url",
         "payload", "request": {"url", "headers", "body"}}:
        - delivered: the app's server accepted the connection and was sent the request;
        - status / body: the app's answer (null / "" when none came within 3 s);
        - within_3s: an answer came in time; acknowledged: it was a 200 (anything else, the user
          would see an error in Slack);
        - error: null, "timeout" or "connection_failed";
        - request: the request exactly as sent (raw form body, headers), to replay or tamper with.
        Fault staging: "signature": "bad" signs with a wrong secret; "timestamp_offset_s": -600 sends
        a stale timestamp (signed consistently with it). Refusals (nothing is sent): 400
        invalid_click, 404 channel_not_found / message_not_found / action_not_found / user_not_found,
        403 user_not_in_channel, 409 no_interactivity_url.

    POST /_sandbox/respond/<id>   (the payload's `response_url`, minted per click)
        Slack's response_url: a JSON body {"text", "blocks", "attachments", "response_type":
        "ephemeral" | "in_channel", "replace_original", "delete_original", "thread_ts"}.
        replace_original edits the clicked message as chat.update would (conversations.history shows
        it); delete_original deletes it; otherwise a new message: ephemeral (the default) for the
        clicking user only, or in_channel. Answers 200 {"ok": true}; refusals are {"ok": false,
        "error"}: 404 used_url after 5 uses, 404 expired_url after 30 minutes, 404 no_service for
        an id never minted, 404 message_not_found when the original is gone, 400 invalid_payload /
        no_text / invalid_blocks / invalid_attachments / msg_too_long for a bad body. Only accepted
        uses count towards the 5.

    GET /_sandbox/ephemeral?channel=&user=
        The ephemeral messages shown so far (chat.postEphemeral and response_url), filtered by
        channel and user: {"ephemeral": [{"channel", "user", "message_ts", "text", "blocks",
        "attachments", "thread_ts", "via"}]}.

The answers of response_url are the sandbox's reading of Slack's: Slack's docs state the 5-uses /
30-minutes limit but not the exact status and body of the refusal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pivot.providers.sandbox_kit import read_json_object
from pivot.providers.slack.sandbox.args import SlackError, bool_arg, content_args, text_arg
from pivot.providers.slack.sandbox.payloads import (
    ClickContext,
    block_actions_payload,
    find_button,
    form_body,
    signed_headers,
)

if TYPE_CHECKING:
    from pivot.providers.slack.sandbox.app import SlackSandbox

ACK_TIMEOUT_S = 3.0
"""Slack waits this long for the app's 200, then shows the user an error (and never retries)."""
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL_S = 30 * 60
WRONG_SECRET_SUFFIX = "-not-the-signing-secret"
LOOPBACK_HOSTS = frozenset({"localhost"})

log = logging.getLogger("pivot.sandbox.slack")

JsonDict = dict[str, Any]


def loopback_url(url: str) -> str:
    """`url` when it is http(s) on this machine's loopback; ValueError otherwise (the sandbox calls no one else)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"the interactivity URL must be http(s)://127.0.0.1 or localhost, got {url!r}")
    if host not in LOOPBACK_HOSTS:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the interactivity URL must be on the loopback interface, got host {host!r}")
    return url


@dataclass
class AppSettings:
    """The Slack app's configuration that Slack itself holds: where to send clicks, what to sign with."""

    signing_secret: str
    interactivity_url: str | None


@dataclass
class ResponseUrl:
    """One click's response_url: bound to the clicked message and the user who clicked."""

    channel: str
    message_ts: str
    user: str
    minted_at: float
    uses: int = 0


@dataclass(frozen=True)
class Ephemeral:
    """A message only `user` sees in `channel` (it is in no history)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[Any] | None
    attachments: list[Any] | None
    thread_ts: str | None
    via: str

    def to_json(self) -> JsonDict:
        return {"channel": self.channel, "user": self.user, "message_ts": self.message_ts, "text": self.text,
                "blocks": self.blocks, "attachments": self.attachments, "thread_ts": self.thread_ts,
                "via": self.via}


class Click(BaseModel):
    """The body of `POST /_sandbox/click`."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1)
    ts: str = Field(min_length=1)
    action_id: str = Field(min_length=1)
    user: str = Field(min_length=1)
    signature: Literal["valid", "bad"] = "valid"
    """Fault staging: "bad" signs with a wrong secret."""
    timestamp_offset_s: int = 0
    """Fault staging: shift X-Slack-Request-Timestamp (and sign that); -600 is a stale request."""


class AppUpdate(BaseModel):
    """The body of `POST /_sandbox/app`."""

    model_config = ConfigDict(extra="forbid")

    interactivity_url: str | None
    signing_secret: str | None = Field(default=None, min_length=1)


def _refusal(code: str, status: int, detail: Any = None) -> JSONResponse:
    body: JsonDict = {"error": code}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


def _slack_refusal(code: str, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "error": code}, status_code=status)


class SlackInteractivity:
    """The app settings, the click, the response_url and the ephemeral listing of one Slack sandbox."""

    def __init__(self, sandbox: SlackSandbox, signing_secret: str, interactivity_url: str | None) -> None:
        self.sandbox = sandbox
        self.configured = AppSettings(signing_secret, None if interactivity_url is None
                                      else loopback_url(interactivity_url))
        self.settings = replace(self.configured)

    def reset(self) -> None:
        self.settings = replace(self.configured)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/app", self.update_app, methods=["POST"]),
            Route("/_sandbox/app", self.show_app, methods=["GET"]),
            Route("/_sandbox/click", self.click, methods=["POST"]),
            Route("/_sandbox/respond/{response_id}", self.respond, methods=["POST"]),
            Route("/_sandbox/ephemeral", self.list_ephemeral, methods=["GET"]),
        ]

    # ----------------------------------------------------------------- the app's settings

    def _settings_view(self) -> JsonDict:
        source = "configured" if self.settings.signing_secret == self.configured.signing_secret else "set"
        return {"interactivity_url": self.settings.interactivity_url, "signing_secret": source}

    async def show_app(self, request: Request) -> Response:
        return JSONResponse(self._settings_view())

    async def update_app(self, request: Request) -> Response:
        try:
            update = AppUpdate.model_validate(await read_json_object(request))
            url = None if update.interactivity_url is None else loopback_url(update.interactivity_url)
        except ValidationError as invalid:
            return _refusal("invalid_app_settings", 400, invalid.errors(include_url=False, include_context=False))
        except ValueError as refused:
            return _refusal("invalid_app_settings", 400, str(refused))
        self.settings.interactivity_url = url
        if update.signing_secret is not None:
            self.settings.signing_secret = update.signing_secret
        return JSONResponse(self._settings_view())

    # ----------------------------------------------------------------- the click

    async def click(self, request: Request) -> Response:
        try:
            click = Click.model_validate(await read_json_object(request))
        except ValidationError as invalid:
            return _refusal("invalid_click", 400, invalid.errors(include_url=False, include_context=False))
        except ValueError as refused:
            return _refusal("invalid_click", 400, str(refused))
        url = self.settings.interactivity_url
        if url is None:
            return _refusal("no_interactivity_url", 409, "POST /_sandbox/app {\"interactivity_url\": …} first")
        state = self.sandbox.state
        try:
            channel = self.sandbox.channel_id(click.channel)
        except SlackError:
            return _refusal("channel_not_found", 404)
        message = state.messages[channel].get(click.ts)
        if message is None:
            return _refusal("message_not_found", 404)
        user = state.workspace.users.get(click.user)
        if user is None:
            return _refusal("user_not_found", 404)
        if not state.workspace.in_channel(user.id, channel):
            return _refusal("user_not_in_channel", 403)
        button = find_button(message.blocks, click.action_id)
        if button is None:
            return _refusal("action_not_found", 404, f"no button with action_id {click.action_id!r} in that message")

        response_id = secrets.token_urlsafe(24)
        state.response_urls[response_id] = ResponseUrl(channel, message.ts, user.id, time.monotonic())
        context = ClickContext(
            user=user.summary(), app_id=self.sandbox.app_id, team=dict(self.sandbox.team), channel_id=channel,
            channel_name=state.channels[channel], message_ts=message.ts,
            thread_ts=message.thread_ts if message.is_reply else None,
            response_url=f"{str(request.base_url).rstrip('/')}/_sandbox/respond/{response_id}",
        )
        payload = block_actions_payload(context, self.sandbox.render(message, include_metadata=False), button)
        body = form_body(payload)
        timestamp = str(int(time.time()) + click.timestamp_offset_s)
        secret = self.settings.signing_secret
        if click.signature == "bad":
            secret += WRONG_SECRET_SUFFIX
        headers = signed_headers(secret, timestamp, body)
        outcome = await deliver(url, headers, body)
        log.info("click %s by %s on %s/%s -> %s", click.action_id, user.id, channel, message.ts, outcome["status"])
        return JSONResponse({**outcome, "response_url": context.response_url, "payload": payload,
                             "request": {"url": url, "headers": headers, "body": body}})

    # ----------------------------------------------------------------- response_url

    async def respond(self, request: Request) -> Response:
        target = self.sandbox.state.response_urls.get(str(request.path_params["response_id"]))
        if target is None:
            return _slack_refusal("no_service", 404)
        if time.monotonic() - target.minted_at > RESPONSE_URL_TTL_S:
            return _slack_refusal("expired_url", 404)
        if target.uses >= RESPONSE_URL_USES:
            return _slack_refusal("used_url", 404)
        try:
            body = await read_json_object(request)
        except ValueError:
            return _slack_refusal("invalid_payload", 400)
        try:
            self._apply(target, body)
        except SlackError as refused:
            return _slack_refusal(refused.code, refused.status)
        target.uses += 1
        return JSONResponse({"ok": True})

    def _apply(self, target: ResponseUrl, body: JsonDict) -> None:
        """What one response_url use does (SlackError when it cannot)."""
        sandbox = self.sandbox
        original = None
        if bool_arg(body, "delete_original") or bool_arg(body, "replace_original"):
            original = sandbox.state.messages.get(target.channel, {}).get(target.message_ts)
            if original is None:
                raise SlackError("message_not_found", 404)
            if bool_arg(body, "delete_original"):
                sandbox.remove(original, via="response_url")
                return
        text, blocks, attachments = _content(body)
        thread_ts = text_arg(body, "thread_ts")
        if original is not None:
            sandbox.replace(original, text, blocks, attachments, via="response_url")
        elif body.get("response_type") == "in_channel":
            sandbox.post(target.channel, text, blocks, attachments, None, thread_ts)
        else:
            sandbox.post_ephemeral(target.channel, target.user, text, blocks, attachments, thread_ts,
                                   via="response_url")

    # ----------------------------------------------------------------- ephemeral messages

    async def list_ephemeral(self, request: Request) -> Response:
        channel, user = request.query_params.get("channel"), request.query_params.get("user")
        shown = [e.to_json() for e in self.sandbox.state.ephemerals
                 if (channel is None or e.channel == channel) and (user is None or e.user == user)]
        return JSONResponse({"ephemeral": shown})


def _content(body: JsonDict) -> tuple[str, list[Any] | None, list[Any] | None]:
    """text / blocks / attachments of a response_url body, refused as Slack refuses them (400)."""
    try:
        text, blocks, attachments = content_args(body)
    except SlackError as refused:
        raise SlackError(refused.code, 400) from None
    if text is None and blocks is None and attachments is None:
        raise SlackError("no_text", 400)
    return text or "", blocks, attachments


async def deliver(url: str, headers: dict[str, str], body: str) -> JsonDict:
    """POST the signed request to the app; what came back within Slack's 3 s (see the module docstring).

    No proxy from the environment (the request must stay on loopback), no redirect followed.
    """
    outcome: JsonDict = {"delivered": False, "status": None, "body": "", "within_3s": False,
                         "acknowledged": False, "error": None}
    try:
        async with (httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=ACK_TIMEOUT_S) as client,
                    asyncio.timeout(ACK_TIMEOUT_S)):
            response = await client.post(url, content=body.encode(), headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout):
        outcome["error"] = "connection_failed"
        return outcome
    except (TimeoutError, httpx.TimeoutException):
        outcome.update(delivered=True, error="timeout")
        return outcome
    except httpx.HTTPError:
        outcome.update(delivered=True, error="connection_failed")
        return outcome
    outcome.update(delivered=True, status=response.status_code, body=response.text, within_3s=True,
                   acknowledged=response.status_code == 200)
    return outcome
