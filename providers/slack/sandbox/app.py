"""A local Slack Web API: chat.postMessage / update / delete and conversations.history.

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

State lives in one `SlackSandbox` per `create_app()` call; nothing is module-level.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
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
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.recorder import RecorderMiddleware, RequestRecorder
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes
from pivot.providers.slack.sandbox.scopes import SANDBOX_SCOPES, needed_scope, scope_headers

TEAM_ID = "T07PIVOTSB"
TEAM_NAME = "Pivot Sandbox"
TEAM_URL = "https://pivot-sandbox.slack.com/"
BOT_USER_ID = "U07PIVOTBT"
BOT_ID = "B07PIVOTBT"
APP_ID = "A07PIVOTAP"
SEED_CHANNELS = (("C024BE91L", "general"),)
DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 999
MAX_TEXT_LENGTH = 40_000
BOT_UPDATED = 1_700_000_000
BOT_ICONS = MappingProxyType({size: f"https://a.slack-edge.com/pivot/bot_{size[6:]}.png"
                              for size in ("image_36", "image_48", "image_72")})

log = logging.getLogger("pivot.sandbox.slack")

JsonDict = dict[str, Any]


class SlackError(Exception):
    """`{"ok": false, "error": code}`; Slack reports almost every failure with HTTP 200."""

    def __init__(self, code: str, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def body(self) -> JsonDict:
        return {"ok": False, "error": self.code, **self.extra}


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


# --------------------------------------------------------------------------- argument helpers


def _text_arg(args: JsonDict, name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _bool_arg(args: JsonDict, name: str) -> bool:
    value = args.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes")


def _json_arg(args: JsonDict, name: str, error: str) -> Any:
    """Structured args arrive as JSON values (JSON bodies) or JSON strings (form bodies)."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError(error) from None
    return value


def _ts_arg(args: JsonDict, name: str, error: str) -> float | None:
    value = _text_arg(args, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise SlackError(error) from None


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


def _metadata_arg(args: JsonDict) -> JsonDict | None:
    metadata = _json_arg(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise SlackError("invalid_metadata_format")
    if not isinstance(metadata.get("event_type"), str) or not metadata["event_type"]:
        raise SlackError("invalid_metadata_schema")
    payload = metadata.get("event_payload", {})
    if not isinstance(payload, dict):
        raise SlackError("invalid_metadata_schema")
    if len(json.dumps(metadata)) > 8000:
        raise SlackError("metadata_too_large")
    return {"event_type": metadata["event_type"], "event_payload": payload}


def _content_args(args: JsonDict) -> tuple[str | None, list[Any] | None, list[Any] | None]:
    text = _text_arg(args, "text")
    blocks = _json_arg(args, "blocks", "invalid_blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks")
    attachments = _json_arg(args, "attachments", "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise SlackError("msg_too_long")
    if attachments is not None and len(attachments) > 100:
        raise SlackError("too_many_attachments")
    return text, blocks or None, attachments or None


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

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["slack"],)) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.recorder = RequestRecorder()
        self.state = SlackState()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.methods: dict[str, SlackMethod] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update_message,
            "chat.delete": self.delete_message,
            "chat.getPermalink": self.get_permalink,
            "conversations.history": self.history,
            "conversations.replies": self.replies,
        }

    def reset(self) -> None:
        self.recorder.clear()
        self.tokens.clear()
        self.state = SlackState()

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [Route("/api/{method}", self.dispatch, methods=["GET", "POST"])]
        app = build_sandbox_app(
            routes=[*self.recorder.routes(), *token_routes(self.tokens), *routes],
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
        """A channel id from an id or a name (`general`, `#general`)."""
        value = _text_arg(args, "channel")
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
        ts = _text_arg(args, name)
        message = self.state.messages[channel].get(ts or "")
        if message is None:
            raise SlackError("message_not_found")
        return message

    def _next_ts(self) -> str:
        """Unix time with microseconds, strictly increasing even within one microsecond."""
        now_us = time.time_ns() // 1000
        self.state.last_ts_us = max(now_us, self.state.last_ts_us + 1)
        seconds, micros = divmod(self.state.last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _render(self, message: SlackMessage, *, include_metadata: bool) -> JsonDict:
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
        text, blocks, attachments = _content_args(args)
        metadata = _metadata_arg(args)
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        thread_ts = _text_arg(args, "thread_ts")
        message = SlackMessage(channel=channel, ts=self._next_ts(), text=text or "", blocks=blocks,
                               attachments=attachments, metadata=metadata, thread_ts=thread_ts)
        self.state.messages[channel][message.ts] = message
        self.ledger.record("send", "message", message.ts, message.pivot_key,
                           {"channel": channel, "thread_ts": thread_ts})
        return {"channel": channel, "ts": message.ts, "message": self._render(message, include_metadata=True)}

    def update_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args)
        text, blocks, attachments = _content_args(args)
        metadata = _metadata_arg(args)
        if text is None and blocks is None and attachments is None:
            raise SlackError("no_text")
        message.text = text or ""
        if blocks is not None:
            message.blocks = blocks
        if attachments is not None:
            message.attachments = attachments
        if metadata is not None:
            message.metadata = metadata
        message.edited = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self.ledger.record("update", "message", message.ts, message.pivot_key, {"channel": channel})
        rendered = self._render(message, include_metadata=True)
        return {"channel": channel, "ts": message.ts, "text": message.text, "message": rendered}

    def delete_message(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args)
        del self.state.messages[channel][message.ts]
        self.ledger.record("delete", "message", message.ts, message.pivot_key, {"channel": channel})
        return {"channel": channel, "ts": message.ts}

    def get_permalink(self, args: JsonDict) -> JsonDict:
        channel = self._channel(args)
        message = self._message(channel, args, "message_ts")
        return {"channel": channel,
                "permalink": f"{TEAM_URL}archives/{channel}/p{message.ts.replace('.', '')}"}

    def _page(self, messages: list[SlackMessage], args: JsonDict, *, newest_first: bool) -> JsonDict:
        """Window by latest/oldest/inclusive, then one page by limit and cursor."""
        latest = _ts_arg(args, "latest", "invalid_ts_latest")
        oldest = _ts_arg(args, "oldest", "invalid_ts_oldest")
        inclusive = _bool_arg(args, "inclusive")
        raw_limit = args.get("limit")
        try:
            limit = int(raw_limit) if raw_limit not in (None, "") else DEFAULT_HISTORY_LIMIT
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = DEFAULT_HISTORY_LIMIT if limit <= 0 else min(limit, MAX_HISTORY_LIMIT)
        cursor = _text_arg(args, "cursor")
        include_metadata = _bool_arg(args, "include_all_metadata")

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
            "messages": [self._render(m, include_metadata=include_metadata) for m in page],
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
        ts = _text_arg(args, "ts")
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


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["slack"],)) -> Starlette:
    """A fresh Slack sandbox with its own state and the seeded channel C024BE91L (#general), accepting
    the credentials in `credentials` (and those registered at `/_sandbox/tokens`)."""
    return SlackSandbox(credentials).app()
