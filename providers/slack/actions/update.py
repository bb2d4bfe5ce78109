"""update_message: change a message's text; undone by restoring the previous text, conditionally.

The before-image travels with the write: the `chat.update` that changes the text also stamps
`pivot_update_key` (the step key) and `pivot_update_before` (the previous text) into the
message's metadata payload, keeping whatever the payload held (a post's own `pivot_key`). A retry
after a lost answer recognises its own stamp and takes the previous text from it instead of
mistaking the saga's text for the original.

The restore puts the previous text back only while the message still shows the saga's text;
showing the previous text already means restored (a rerun); anything else, or a deleted
message, is somebody else's change: `CompensationConflict`, nothing written.
"""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.slack.actions.messages import EVENT_TYPE, Messages, payload_of
from pivot.providers.slack.actions.post import TS
from pivot.providers.slack.client import SlackClient

UPDATE_KEY = "pivot_update_key"
UPDATE_BEFORE = "pivot_update_before"
UPDATE_UNDONE = "pivot_update_undone"
MAX_METADATA_CHARS = 8000
"""Slack caps a message's metadata; a before-image that would not fit is refused up front."""


class UpdateMessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=r"^[CGD][A-Z0-9]{2,20}$")
    ts: str = Field(pattern=TS)
    text: str = Field(min_length=1, max_length=4000)
    thread_ts: str | None = Field(default=None, pattern=TS, description="The thread, when the message is a reply")


def _metadata(message: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    event_type = (message.get("metadata") or {}).get("event_type") or EVENT_TYPE
    return {"event_type": event_type, "event_payload": payload}


class UpdateActions:
    def __init__(self, client: SlackClient):
        self.client = client
        self.messages = Messages(client)

    def _ref(self, params: UpdateMessageParams) -> str:
        return f"slack:message/{params.channel}/{params.ts}"

    async def update_message(self, params: UpdateMessageParams, keys: StepKeys) -> JsonDict:
        message = await self.messages.read(params.channel, params.ts, params.thread_ts)
        if message is None:
            raise ProviderRejected("message_not_found", f"Slack has no message {params.ts} in {params.channel}")
        payload = payload_of(message)
        if payload.get(UPDATE_KEY) == keys.forward:
            before = str(payload.get(UPDATE_BEFORE, ""))  # our update landed; its answer was lost
        else:
            before = str(message.get("text") or "")
            stamped = {**payload, UPDATE_KEY: keys.forward, UPDATE_BEFORE: before}
            stamped.pop(UPDATE_UNDONE, None)
            metadata = _metadata(message, stamped)
            if len(json.dumps(metadata)) > MAX_METADATA_CHARS:
                raise ProviderRejected("before_image_too_large", "the message's current text is too long to keep "
                                       "for an undo; refusing to write what could not be restored")
            await self.client.call("chat.update", {"channel": params.channel, "ts": params.ts, "text": params.text,
                                                   "metadata": metadata})
        fresh = await self.messages.read(params.channel, params.ts, params.thread_ts)
        if fresh is None or fresh.get("text") != params.text or payload_of(fresh).get(UPDATE_KEY) != keys.forward:
            raise ProviderRejected("readback_mismatch", f"Slack message {params.ts} does not show the update",
                                   {"expected": params.text, "actual": (fresh or {}).get("text")})
        return {"ref": self._ref(params), "channel": params.channel, "ts": params.ts, "text": params.text,
                "before": before}

    async def restore_message(
        self, params: UpdateMessageParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        message = await self.messages.read(params.channel, params.ts, params.thread_ts)
        if message is None:
            raise CompensationConflict(f"Slack message {params.ts} was deleted after the saga updated it",
                                       expected=params.text, current=None)
        payload = payload_of(message)
        if result is not None:
            before = str(result["before"])
        elif payload.get(UPDATE_KEY) == keys.forward:
            before = str(payload.get(UPDATE_BEFORE, ""))
        else:
            return CompensationReport(state="nothing_to_undo",
                                      detail=f"Slack message {params.ts} shows no update by this step")
        current = message.get("text")
        if before == params.text or current == before:
            return CompensationReport(state="compensated", detail=f"Slack message {params.ts} is already restored")
        if current != params.text:
            raise CompensationConflict(f"someone edited Slack message {params.ts} after the saga; not restoring",
                                       expected=params.text, current=current)
        marked = {**payload, UPDATE_UNDONE: keys.compensation} if payload.get(UPDATE_KEY) == keys.forward else payload
        await self.client.call("chat.update", {"channel": params.channel, "ts": params.ts, "text": before,
                                               "metadata": _metadata(message, marked)})
        fresh = await self.messages.read(params.channel, params.ts, params.thread_ts)
        if fresh is None or fresh.get("text") != before:
            raise ProviderRejected("readback_mismatch", f"Slack message {params.ts} does not show the restore")
        return CompensationReport(state="compensated", detail=f"Slack message {params.ts} restored to its "
                                  "previous text")
