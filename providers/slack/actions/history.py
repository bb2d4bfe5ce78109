"""Finding Slack messages again: by ts, or by the saga key stamped into their metadata.

Slack has no idempotency header, so a post carries its step key in
`metadata.event_payload.pivot_key` and the channel (or, for a thread reply, the thread) is
scanned for it before a (re)post. Top-level messages are read with `conversations.history`;
replies only appear in `conversations.replies`, so a message in a thread is looked up there.
"""

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from pivot.compensations.errors import ProviderRejected
from pivot.providers.slack.client import SlackClient

EVENT_TYPE = "pivot_saga_step"
GONE = frozenset({"thread_not_found", "message_not_found"})
HISTORY_PAGE = 200
HISTORY_PAGES = 5


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return dict(payload) if isinstance(payload, dict) else {}


def key_of(message: dict[str, Any]) -> str | None:
    key = payload_of(message).get("pivot_key")
    return key if isinstance(key, str) else None


class History:
    """Reads of one workspace's messages, thread-aware."""

    def __init__(self, client: SlackClient):
        self.client = client

    async def _page(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """One page of history or replies; a thread whose root is gone reads as empty."""
        try:
            return await self.client.call(method, args, read=True)
        except ProviderRejected as rejected:
            if rejected.info.code in GONE:
                return {"messages": [], "has_more": False}
            raise

    async def _carrying(self, channel: str, key: str, thread_ts: str | None) -> AsyncGenerator[dict[str, Any], None]:
        """The messages (or replies in `thread_ts`) whose metadata carries `key`, newest first, in
        the newest `HISTORY_PAGES` pages."""
        method = "conversations.replies" if thread_ts else "conversations.history"
        args: dict[str, Any] = {"channel": channel, "limit": HISTORY_PAGE, "include_all_metadata": "true"}
        if thread_ts:
            args["ts"] = thread_ts
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = await self._page(method, {**args, "cursor": cursor} if cursor else args)
            for message in page.get("messages", []):
                if key_of(message) == key:
                    yield dict(message)
            cursor = (page.get("response_metadata") or {}).get("next_cursor", "")
            if not page.get("has_more") or not cursor:
                return

    async def find_by_key(self, channel: str, key: str, thread_ts: str | None = None) -> dict[str, Any] | None:
        """The newest message (or reply in `thread_ts`) whose metadata carries `key`."""
        async with aclosing(self._carrying(channel, key, thread_ts)) as carrying:
            async for message in carrying:
                return message
        return None

    async def all_by_key(self, channel: str, key: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Every message (or reply) carrying `key`: more than one is a post sent twice."""
        return [message async for message in self._carrying(channel, key, thread_ts)]

    async def read(self, channel: str, ts: str, thread_ts: str | None = None) -> dict[str, Any] | None:
        """The message at `ts` (a reply when `thread_ts` names another message), with metadata."""
        if thread_ts and thread_ts != ts:
            page = await self._page(
                "conversations.replies",
                {"channel": channel, "ts": thread_ts, "oldest": ts, "inclusive": "true", "limit": 2,
                 "include_all_metadata": "true"},
            )
        else:
            page = await self._page(
                "conversations.history",
                {"channel": channel, "latest": ts, "inclusive": "true", "limit": 1, "include_all_metadata": "true"},
            )
        return next((dict(m) for m in page.get("messages", []) if m.get("ts") == ts), None)
