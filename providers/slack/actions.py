"""Slack actions for the catalog: post_message, which cannot be undone (people read it).

Slack has no idempotency header. The step key travels in the message's metadata, and the
channel history is scanned for it before a (re)post, so a post whose answer was lost is found
instead of sent twice.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from compensations.actions import Action, JsonDict, RetryBudget
from compensations.errors import ProviderRejected
from compensations.keys import StepKeys
from compensations.kinds import StepKind
from providers.slack.client import SlackClient

EVENT_TYPE = "pivot_saga_step"
HISTORY_PAGE = 200
HISTORY_PAGES = 5


class PostMessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=r"^[CGD][A-Z0-9]{2,20}$")
    text: str = Field(min_length=1, max_length=4000)
    thread_ts: str | None = Field(default=None, pattern=r"^\d+\.\d+$")


def _key_of(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    key = payload.get("pivot_key")
    return key if isinstance(key, str) else None


class SlackActions:
    def __init__(self, client: SlackClient):
        self.client = client

    async def find_message(self, channel: str, key: str) -> dict[str, Any] | None:
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = await self.client.call(
                "conversations.history",
                {"channel": channel, "limit": HISTORY_PAGE, "include_all_metadata": "true", "cursor": cursor},
                read=True,
            )
            for message in page.get("messages", []):
                if _key_of(message) == key:
                    return dict(message)
            cursor = (page.get("response_metadata") or {}).get("next_cursor", "")
            if not page.get("has_more") or not cursor:
                return None
        return None

    async def post_message(self, params: PostMessageParams, keys: StepKeys) -> JsonDict:
        message = await self.find_message(params.channel, keys.forward)
        if message is None:
            payload: dict[str, Any] = {
                "channel": params.channel,
                "text": params.text,
                "metadata": {"event_type": EVENT_TYPE, "event_payload": {"pivot_key": keys.forward}},
            }
            if params.thread_ts:
                payload["thread_ts"] = params.thread_ts
            posted = await self.client.call("chat.postMessage", payload)
            ts = str(posted["ts"])
        else:
            ts = str(message["ts"])
        page = await self.client.call(
            "conversations.history",
            {"channel": params.channel, "latest": ts, "inclusive": "true", "limit": 1,
             "include_all_metadata": "true"},
            read=True,
        )
        found = next((m for m in page.get("messages", []) if m.get("ts") == ts), None)
        if found is None or found.get("text") != params.text or _key_of(found) != keys.forward:
            raise ProviderRejected("readback_mismatch", f"Slack message {ts} in {params.channel} does not match",
                                   {"expected": params.text, "actual": found.get("text") if found else None})
        return {"ref": f"slack:message/{params.channel}/{ts}", "channel": params.channel, "ts": ts,
                "text": found["text"]}


def slack_actions(client: SlackClient) -> list[Action]:
    actions = SlackActions(client)
    return [
        Action(
            name="slack.post_message",
            kind=StepKind.NONCOMPENSABLE,
            params=PostMessageParams,
            forward=actions.post_message,
            key_carrier="message metadata event_payload.pivot_key; channel history scanned before a (re)post",
            readback="conversations.history at the message ts: text and key",
            compensation="none: a message people may have read cannot be unsent (runs after the pivot)",
            describe=lambda r: f"Slack message {r['ts']} was posted in {r['channel']}",
            not_run="No Slack message was sent",
            in_flight_window=client.http.in_flight_window,
            retry=RetryBudget(max_attempts=8),
        )
    ]
