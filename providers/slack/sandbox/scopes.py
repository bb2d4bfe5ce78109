"""Which OAuth scopes the sandboxed Web API methods need, and how Slack says a token lacks one.

Slack checks a token's scopes per method and, for history reads, per conversation type. A token
without the scope is answered with HTTP 200 and `{"ok": false, "error": "missing_scope",
"needed": "<scope>", "provided": "<the token's scopes, comma-separated>"}`, and every answer to
an authenticated call carries the token's scopes in `x-oauth-scopes` and the scopes the method
accepts in `x-accepted-oauth-scopes` (what `pivot doctor` reads). A token the sandbox's token book
does not know has every scope in `SANDBOX_SCOPES`, so the local stack needs no setup.

This table models Slack's rules for the methods the sandbox serves; Pivot's own list of what its
catalog needs lives in `pivot.providers.slack.account`, and the account tests prove the two agree.
"""

from collections.abc import Mapping, Sequence
from types import MappingProxyType

SANDBOX_SCOPES = ("channels:history", "channels:read", "chat:write", "groups:history", "im:history",
                  "mpim:history", "users:read", "users:read.email")
"""What a bot token has when no rule narrows it (`users.info` shows a member's email, which on slack.com
needs users:read.email besides users:read; the sandbox shows it to every token that may call the method)."""

CHAT_WRITE = ("chat:write",)
HISTORY_SCOPES = ("channels:history", "groups:history", "im:history", "mpim:history")
HISTORY_METHODS = frozenset({"conversations.history", "conversations.replies"})
HISTORY_BY_KIND: Mapping[str, str] = MappingProxyType({
    "C": "channels:history", "G": "groups:history", "D": "im:history",
})
"""A conversation id's first letter is its kind: public channel, private channel (or group DM), DM."""

METHOD_SCOPES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "auth.test": (),
    "chat.getPermalink": (),
    "chat.postMessage": CHAT_WRITE,
    "chat.update": CHAT_WRITE,
    "chat.delete": CHAT_WRITE,
    "chat.postEphemeral": CHAT_WRITE,
    "conversations.history": HISTORY_SCOPES,
    "conversations.replies": HISTORY_SCOPES,
    "users.info": ("users:read",),
})
"""The scopes each method accepts (any one of them), as `x-accepted-oauth-scopes` lists them."""


def needed_scope(method: str, channel: object) -> str | None:
    """The one scope this call needs, or None when the method needs none.

    History reads need the scope of the conversation's kind; a channel given by name ("general")
    is a public channel here, like the sandbox's seeded #general.
    """
    if method in HISTORY_METHODS:
        kind = channel[0] if isinstance(channel, str) and channel[:1] in HISTORY_BY_KIND else "C"
        return HISTORY_BY_KIND[kind]
    accepted = METHOD_SCOPES.get(method, ())
    return accepted[0] if accepted else None


def scope_headers(granted: Sequence[str], method: str) -> dict[str, str]:
    """The headers Slack puts on every authenticated answer."""
    return {"x-oauth-scopes": ",".join(granted),
            "x-accepted-oauth-scopes": ",".join(METHOD_SCOPES.get(method, ()))}
