"""A local Slack Web API: chat.postMessage / update / delete / postEphemeral, conversations.history, users.info.

Slack has no idempotency header; the saga key rides in message metadata
(`metadata.event_payload.pivot_key`) and clients scan `conversations.history` for it before a
retry. So this sandbox is faithful where that matters: `ts` values strictly increase, history
is newest-first with working cursor pagination and `latest`/`oldest`/`inclusive`, metadata
comes back only with `include_all_metadata`, and errors are HTTP 200 `{"ok": false}` except the
429 rate limit. Bodies may be JSON (token in the header only) or form-encoded (token may be a
field), as on slack.com.

Tokens and scopes follow the kit's token book (`/_sandbox/tokens`): no token at all is
`not_authed`; a token the sandbox was not configured with, or a revoked one, is `invalid_auth`
(both HTTP 200, as on slack.com); a call needing a scope the token lacks is `missing_scope` with
`needed` and `provided`, and every authenticated answer carries `x-oauth-scopes` (see
`scopes`). A configured token has every scope.

Besides what an app calls, the sandbox plays Slack's side of interactivity (`interactivity`): a
test clicks a button of a posted message as one of the workspace's members (`workspace`) and the
sandbox POSTs the signed `block_actions` request to the app's interactivity URL; `chat.postEphemeral`,
`users.info` and the click's `response_url` complete the flow. As on slack.com, every block of a stored
message has a `block_id` (a random one when posted without).

State lives in one `SlackSandbox` per `create_app()` call; nothing is module-level.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pivot.providers.sandbox_kit import (
    FaultBook,
    Ledger,
    apply_pending_latency,
    build_sandbox_app,
    format_retry_after,
)
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS, LOCAL_SIGNING_SECRETS
from pivot.providers.sandbox_kit.recorder import RecorderMiddleware, RequestRecorder
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes
from pivot.providers.slack.sandbox.args import (
    JsonDict,
    SlackError,
    bool_arg,
    content_args,
    metadata_arg,
    text_arg,
    ts_arg,
)
from pivot.providers.slack.sandbox.interactivity import Ephemeral, ResponseUrl, SlackInteractivity
from pivot.providers.slack.sandbox.scopes import SANDBOX_SCOPES, needed_scope, scope_headers
from pivot.providers.slack.sandbox.workspace import Workspace, workspace_routes

TEAM_ID = "T07PIVOTSB"
TEAM_NAME = "Pivot Sandbox"
TEAM_DOMAIN = "pivot-sandbox"
TEAM_URL = "https://pivot-sandbox.slack.com/"
BOT_USER_ID = "U07PIVOTBT"
BOT_ID = "B07PIVOTBT"
APP_ID = "A07PIVOTAP"
SEED_CHANNELS = (("C024BE91L", "general"),)
DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 999
BOT_UPDATED = 1_700_000_000
BOT_ICONS = MappingProxyType({size: f"https://a.slack-edge.com/pivot/bot_{size[6:]}.png"
                              for size in ("image_36", "image_48", "image_72")})

BLOCK_ID_ALPHABET = string.ascii_letters + string.digits + "+="

log = logging.getLogger("pivot.sandbox.slack")


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    attachments: list[Any] | None
    metadata: JsonDict | None
    thread_ts: str | None
    edited: JsonDict | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def pivot_key(self) -> str | None:
        payload = (self.metadata or {}).get("event_payload")
        key = payload.get("pivot_key") if isinstance(payload, dict) else None
        return key if isinstance(key, str) else None


@dataclass
class SlackState:
    channels: dict[str, str] = field(default_factory=lambda: dict(SEED_CHANNELS))
    messages: dict[str, dict[str, SlackMessage]] = field(
        default_factory=lambda: {channel_id: {} for channel_id, _ in SEED_CHANNELS}
    )
    last_ts_us: int = 0
    workspace: Workspace = field(
        default_factory=lambda: Workspace.seeded(TEAM_ID, [channel_id for channel_id, _ in SEED_CHANNELS])
    )
    ephemerals: list[Ephemeral] = field(default_factory=list)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)


def _with_block_ids(blocks: list[Any] | None) -> list[Any] | None:
    """Slack gives every block of a stored message a `block_id`; a block posted without one gets a random one."""
    if blocks is None:
        return None
    return [{**block, "block_id": "".join(secrets.choice(BLOCK_ID_ALPHABET) for _ in range(5))}
            if isinstance(block, dict) and not block.get("block_id") else block
            for block in blocks]


# --------------------------------------------------------------------------- argument helpers


def _ts_key(ts: str) -> tuple[int, int]:
    """Order ts strings exactly (floats would lose microseconds on large values)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros.ljust(6, "0")[:6])


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix, _, ts = decoded.partition(":")
    if prefix != "next_ts" or not ts:
        raise SlackError("invalid_cursor")
    try:
        _ts_key(ts)
    except ValueError:
        raise SlackError("invalid_cursor") from None
    return ts


# --------------------------------------------------------------------------- faults


class SlackFaultResponder:
    """Slack's bodies for injected failures: `ok: false` with Slack's error codes."""

    def error(self, status: int, body: JsonDict | None) -> Response:
        if body is None:
            code = {404: "unknown_method", 429: "ratelimited", 503: "service_unavailable"}.get(
                status, "internal_error" if status >= 500 else "invalid_request"
            )
            body = {"ok": False, "error": code}
        return JSONResponse(body, status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        headers = {"Retry-After": format_retry_after(retry_after)} if retry_after is not None else None
        return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers=headers)


# --------------------------------------------------------------------------- the sandbox

SlackMethod = Callable[[JsonDict], JsonDict]


class SlackSandbox:
    """All state and Web API methods of one Slack sandbox instance."""

    app_id = APP_ID
    team = MappingProxyType({"id": TEAM_ID, "domain": TEAM_DOMAIN})

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["slack"],),
                 signing_secret: str = LOCAL_SIGNING_SECRETS["slack"], interactivity_url: str | None = None) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.recorder = RequestRecorder()
        self.state = SlackState()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.interactivity = SlackInteractivity(self, signing_secret, interactivity_url)
        self.methods: dict[str, SlackMethod] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update_message,
            "chat.delete": self.delete_message,
            "chat.getPermalink": self.get_permalink,
            "chat.postEphemeral": self.post_ephemeral_message,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "users.info": self.users_info,
        }

    def reset(self) -> None:
        self.recorder.clear()
        self.tokens.clear()
        self.state = SlackState()
        self.interactivity.reset()

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [Route("/api/{method}", self.dispatch, methods=["GET", "POST"])]
        app = build_sandbox_app(
            routes=[*self.recorder.routes(), *token_routes(self.tokens),
                    *workspace_routes(lambda: self.state.workspace), *self.interactivity.routes(), *routes],
            faults=self.faults,
            ledger=self.ledger,
            responder=SlackFaultResponder(),
            reset=self.reset,
        )
        app.add_middleware(RecorderMiddleware, recorder=self.recorder)
        return app

    # ----------------------------------------------------------------- request pipeline

    async def dispatch(self, request: Request) -> Response:
        name = str(request.path_params["method"])
        method = self.methods.get(name)
        if method is None:
            return JSONResponse({"ok": False, "error": "unknown_method", "req_method": name}, status_code=404)
        warnings: list[str] = []
        headers: dict[str, str] = {}
        try:
            args, token = await _read_args(request, warnings)
            if token is None:
                raise SlackError("not_authed")
            if not self.tokens.known(token):
                raise SlackError("invalid_auth")
            granted = self.tokens.scopes(token)
            granted = list(SANDBOX_SCOPES) if granted is None else granted
            headers = scope_headers(granted, name)
            needed = needed_scope(name, args.get("channel"))
            if needed is not None and needed not in granted:
                raise SlackError("missing_scope", needed=needed, provided=",".join(granted))
            await apply_pending_latency(request.scope)
            body = {"ok": True, **method(args)}
            status = 200
        except SlackError as error:
            body, status = error.body(), error.status
        if warnings:
            body["warning"] = ",".join(warnings)
            metadata = body.setdefault("response_metadata", {})
            metadata["warnings"] = warnings
        return JSONResponse(body, status_code=status, headers=headers)

    def _channel(self, args: JsonDict) -> str:
        return self.channel_id(text_arg(args, "channel"))

    def channel_id(self, value: str | None) -> str:
        """A channel id from an id or a name (`general`, `#general`)."""
        if value is None:
            raise SlackError("channel_not_found")
        if value in self.state.channels:
            return value
        name = value.removeprefix("#")
        for channel_id, channel_name in self.state.channels.items():
            if channel_name == name:
                return channel_id
        raise SlackError("channel_not_found")

    def _message(self, channel: str, args: JsonDict, name: str = "ts") -> SlackMessage:
        ts = text_arg(args, name)
        message = self.state.messages[channel].get(ts or "")
        if message is None:
            raise SlackError("message_not_found")
        return message

    def next_ts(self) -> str:
        """Unix time with microseconds, strictly increasing even within one microsecond."""
        now_us = time.time_ns() // 1000
        self.state.last_ts_us = max(now_us, self.state.last_ts_us + 1)
        seconds, micros = divmod(self.state.last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def render(self, message: SlackMessage, *, include_metadata: bool) -> JsonDict:
        """The message as conversations.history shows it."""
        body: JsonDict = {
            "type": "message",
            "user": BOT_USER_ID,
            "text": message.text,
            "ts": message.ts,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": "pivot", "team_id": TEAM_ID,
                            "deleted": False, "updated": BOT_UPDATED, "icons": dict(BOT_ICONS)},
        }
        if message.blocks is not None:
            body["blocks"] = message.blocks
        if message.attachments is not None:
            body["attachments"] = message.attachments
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
            if message.is_reply:
                body["parent_user_id"] = BOT_USER_ID
        replies = self._replies_of(message)
        if replies:
            body.update({"thread_ts": message.ts, "reply_count": len(replies), "latest_reply": replies[-1].ts,
                         "reply_users": [BOT_USER_ID], "reply_users_count": 1})
        if message.edited is not None:
            body["edited"] = dict(message.edited)
        if include_metadata and message.metadata is not None:
            body["metadata"] = message.metadata
        return body

    def _replies_of(self, message: SlackMessage) -> list[SlackMessage]:
        if message.is_reply:
            return []
        replies = [m for m in self.state.messages[message.channel].values()
                   if m.is_reply and m.thread_ts == message.ts]
        return sorted(replies, key=lambda m: _ts_key(m.ts))

    # ----------------------------------------------------------------- methods

    def auth_test(self, args: JsonDict) -> JsonDict:
        return {"url": TEAM_URL, "team": TEAM_NAME, "user": "pivot", "team_id": TEAM_ID,
                "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def post_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        text, blocks, attachments = content_args(args)
        metadata = metadata_arg(args)
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        message = self.post(channel, text or "", blocks, attachments, metadata, text_arg(args, "thread_ts"))
        return {"channel": channel, "ts": message.ts, "message": self.render(message, include_metadata=True)}

    def update_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args)
        text, blocks, attachments = content_args(args)
        metadata = metadata_arg(args)
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        self.replace(message, text or "", blocks, attachments, metadata)
        rendered = self.render(message, include_metadata=True)
        return {"channel": channel, "ts": message.ts, "text": message.text, "message": rendered}

    def delete_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args)
        self.remove(message)
        return {"channel": channel, "ts": message.ts}

    def post_ephemeral_message(self, args: JsonDict) -> JsonDict:
        """chat.postEphemeral: a message only `user` sees; they must be a member of the channel."""
        channel = self._channel(args)
        user = text_arg(args, "user")
        if user is None or not self.state.workspace.in_channel(user, channel):
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = content_args(args)
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        shown = self.post_ephemeral(channel, user, text or "", blocks, attachments, text_arg(args, "thread_ts"),
                                    via="chat.postEphemeral")
        return {"message_ts": shown.message_ts}

    def users_info(self, args: JsonDict) -> JsonDict:
        user = self.state.workspace.users.get(text_arg(args, "user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.info()}

    # ----------------------------------------------------------------- effects (Web API and response_url)

    def post(self, channel: str, text: str, blocks: list[Any] | None, attachments: list[Any] | None,
             metadata: JsonDict | None, thread_ts: str | None) -> SlackMessage:
        """Store a new message from the bot and record the send."""
        message = SlackMessage(channel=channel, ts=self.next_ts(), text=text, blocks=_with_block_ids(blocks),
                               attachments=attachments, metadata=metadata, thread_ts=thread_ts)
        self.state.messages[channel][message.ts] = message
        self.ledger.record("send", "message", message.ts, message.pivot_key,
                           {"channel": channel, "thread_ts": thread_ts})
        return message

    def replace(self, message: SlackMessage, text: str, blocks: list[Any] | None, attachments: list[Any] | None,
                metadata: JsonDict | None = None, *, via: str | None = None) -> None:
        """Edit a message as chat.update does (what is not given is kept) and record the update."""
        message.text = text
        if blocks is not None:
            message.blocks = _with_block_ids(blocks)
        if attachments is not None:
            message.attachments = attachments
        if metadata is not None:
            message.metadata = metadata
        message.edited = {"user": BOT_USER_ID, "ts": self.next_ts()}
        self.ledger.record("update", "message", message.ts, message.pivot_key, _detail(message.channel, via))

    def remove(self, message: SlackMessage, *, via: str | None = None) -> None:
        del self.state.messages[message.channel][message.ts]
        self.ledger.record("delete", "message", message.ts, message.pivot_key, _detail(message.channel, via))

    def post_ephemeral(self, channel: str, user: str, text: str, blocks: list[Any] | None,
                       attachments: list[Any] | None, thread_ts: str | None, *, via: str) -> Ephemeral:
        """Show `user` a message in `channel` that nobody else sees and no history lists; record the send."""
        shown = Ephemeral(channel=channel, user=user, message_ts=self.next_ts(), text=text,
                          blocks=_with_block_ids(blocks), attachments=attachments, thread_ts=thread_ts, via=via)
        self.state.ephemerals.append(shown)
        self.ledger.record("send", "ephemeral", shown.message_ts, None, {"channel": channel, "user": user, "via": via})
        return shown

    def get_permalink(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args, "message_ts")
        return {"channel": channel,
                "permalink": f"{TEAM_URL}archives/{channel}/p{message.ts.replace('.', '')}"}

    def _page(self, messages: list[SlackMessage], args: JsonDict, *, newest_first: bool) -> JsonDict:
        """Window by latest/oldest/inclusive, then one page by limit and cursor."""
        latest = ts_arg(args, "latest", "invalid_ts_latest")
        oldest = ts_arg(args, "oldest", "invalid_ts_oldest")
        inclusive = bool_arg(args, "inclusive")
        raw_limit = args.get("limit")
        try:
            limit = int(raw_limit) if raw_limit not in (None, "") else DEFAULT_HISTORY_LIMIT
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = DEFAULT_HISTORY_LIMIT if limit <= 0 else min(limit, MAX_HISTORY_LIMIT)
        cursor = text_arg(args, "cursor")
        include_metadata = bool_arg(args, "include_all_metadata")

        def in_window(message: SlackMessage) -> bool:
            value = float(message.ts)
            if latest is not None and (value > latest or (value == latest and not inclusive)):
                return False
            return oldest is None or value > oldest or (value == oldest and inclusive)

        window = sorted(filter(in_window, messages), key=lambda m: _ts_key(m.ts), reverse=newest_first)
        if cursor is not None:
            start = _ts_key(_decode_cursor(cursor))
            if newest_first:
                window = [m for m in window if _ts_key(m.ts) <= start]
            else:
                window = [m for m in window if _ts_key(m.ts) >= start]
        page, rest = window[:limit], window[limit:]
        return {
            "messages": [self.render(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _encode_cursor(rest[0].ts) if rest else ""},
        }

    def history(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        top_level = [m for m in self.state.messages[channel].values() if not m.is_reply]
        page = self._page(top_level, args, newest_first=True)
        # conversations.history also reports pins and channel actions; replies do not.
        return {**page, "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}

    def replies(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        ts = text_arg(args, "ts")
        parent = self.state.messages[channel].get(ts or "")
        if parent is None or parent.is_reply:
            raise SlackError("thread_not_found")
        return self._page([parent, *self._replies_of(parent)], args, newest_first=False)


async def _read_args(request: Request, warnings: list[str]) -> tuple[JsonDict, str | None]:
    """Arguments from the query string and the body, and the token from where Slack reads it.

    JSON bodies must carry the token in the Authorization header; form bodies and query strings
    may carry it as `token`.
    """
    args: JsonDict = dict(request.query_params)
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    token = credential.strip() if scheme.lower() == "bearer" and credential.strip() else None
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        if content_type.startswith("application/json"):
            if "charset" not in content_type:
                warnings.append("missing_charset")
            try:
                parsed = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                raise SlackError("invalid_json") from None
            if not isinstance(parsed, dict):
                raise SlackError("json_not_object")
            parsed.pop("token", None)  # Slack ignores a token inside a JSON body
            args.update(parsed)
        elif raw:
            args.update(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
    form_token = args.pop("token", None)
    if token is None and isinstance(form_token, str) and form_token:
        token = form_token
    return args, token


def _detail(channel: str, via: str | None) -> JsonDict:
    """A ledger entry's detail: the channel, and `via` when the effect came from a response_url."""
    return {"channel": channel} if via is None else {"channel": channel, "via": via}


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["slack"],),
               signing_secret: str = LOCAL_SIGNING_SECRETS["slack"], interactivity_url: str | None = None) -> Starlette:
    """A fresh Slack sandbox with its own state, the seeded channel C024BE91L (#general) and members
    (`workspace`), accepting the credentials in `credentials` (and those registered at
    `/_sandbox/tokens`), signing the clicks it sends `interactivity_url` with `signing_secret`."""
    return SlackSandbox(credentials, signing_secret, interactivity_url).app()
