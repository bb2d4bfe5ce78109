"""post_message: noncompensable (people may have read it), with a plan-level undo policy.

The step runs after the pivot, so the engine never unwinds it. `on_undo` says what an
operator-driven retract does with the action's `compensate` function:
- "none" (default): leave the message; the retract reports that nothing was undone;
- "correct": post a threaded correction, keyed by the compensation key in its metadata, so a
  rerun finds it instead of correcting twice;
- "delete": `chat.delete` the message (permanent); a message already gone counts as deleted.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.connections import first_write
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.slack.actions.messages import EVENT_TYPE, Messages, key_of
from pivot.providers.slack.client import SlackClient

CORRECTION_EVENT_TYPE = "pivot_saga_correction"
DEFAULT_CORRECTION = "Correction: please disregard the message above. The operation it announced was undone."
TS = r"^\d+\.\d+$"


class PostMessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=r"^[CGD][A-Z0-9]{2,20}$")
    text: str = Field(min_length=1, max_length=4000)
    thread_ts: str | None = Field(default=None, pattern=TS)
    on_undo: Literal["none", "correct", "delete"] = Field(
        default="none", description="What an operator's retract does: nothing, a threaded correction, or delete"
    )
    correction: str | None = Field(default=None, min_length=1, max_length=4000,
                                   description="The correction's text when on_undo is 'correct'")


class PostActions:
    def __init__(self, client: SlackClient):
        self.client = client
        self.messages = Messages(client)

    async def post_message(self, params: PostMessageParams, keys: StepKeys) -> JsonDict:
        # Slack has no idempotency key: the history is scanned for the step's key before posting,
        # except on a write no earlier attempt can have sent (`first_write()`): nothing to find then.
        message = None if first_write() else await self.messages.find_by_key(params.channel, keys.forward,
                                                                             params.thread_ts)
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
        found = await self.messages.read(params.channel, ts, params.thread_ts)
        if found is None or found.get("text") != params.text or key_of(found) != keys.forward:
            raise ProviderRejected("readback_mismatch", f"Slack message {ts} in {params.channel} does not match",
                                   {"expected": params.text, "actual": found.get("text") if found else None})
        return {"ref": f"slack:message/{params.channel}/{ts}", "channel": params.channel, "ts": ts,
                "text": found["text"]}

    async def undo_post(self, params: PostMessageParams, keys: StepKeys, result: JsonDict | None) -> CompensationReport:
        if params.on_undo == "none":
            return CompensationReport(state="nothing_to_undo",
                                      detail="on_undo is 'none': the Slack message stays as it was")
        if result is not None:
            message = await self.messages.read(params.channel, str(result["ts"]), params.thread_ts)
        else:
            message = await self.messages.find_by_key(params.channel, keys.forward, params.thread_ts)
        if message is None:
            if result is None:
                return CompensationReport(state="nothing_to_undo", detail="Slack shows no message for this step")
            return CompensationReport(state="compensated", detail=f"Slack message {result['ts']} is already gone")
        ts = str(message["ts"])
        if params.on_undo == "delete":
            return await self._delete(params.channel, ts)
        return await self._correct(params, keys, ts)

    async def _delete(self, channel: str, ts: str) -> CompensationReport:
        try:
            await self.client.call("chat.delete", {"channel": channel, "ts": ts})
        except ProviderRejected as rejected:
            if rejected.info.code != "message_not_found":
                raise
            return CompensationReport(state="compensated", detail=f"Slack message {ts} is already gone")
        return CompensationReport(state="compensated", detail=f"Slack message {ts} in {channel} deleted")

    async def _correct(self, params: PostMessageParams, keys: StepKeys, ts: str) -> CompensationReport:
        root = params.thread_ts or ts
        existing = await self.messages.find_by_key(params.channel, keys.compensation, root)
        if existing is not None:
            return CompensationReport(state="compensated",
                                      detail=f"Slack message {ts} was corrected in its thread ({existing['ts']})")
        text = params.correction or DEFAULT_CORRECTION
        posted = await self.client.call("chat.postMessage", {
            "channel": params.channel,
            "thread_ts": root,
            "text": text,
            "metadata": {"event_type": CORRECTION_EVENT_TYPE,
                         "event_payload": {"pivot_key": keys.compensation, "corrects": ts}},
        })
        reply = await self.messages.read(params.channel, str(posted["ts"]), root)
        if reply is None or reply.get("text") != text or key_of(reply) != keys.compensation:
            raise ProviderRejected("readback_mismatch", f"Slack correction {posted['ts']} does not match")
        return CompensationReport(state="compensated",
                                  detail=f"Slack message {ts} was corrected in its thread ({posted['ts']})")
