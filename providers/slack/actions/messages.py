"""post_message and update_message: the two Slack actions, both on messages.

Slack has no idempotency header. A post carries its step key in the message metadata
(`event_payload.pivot_key`) and the channel (or the thread) is scanned for it before a (re)post;
nothing can stop a post still in flight, so the engine fences it (`fenced`). A post is
noncompensable (people may have read it, and it runs after the pivot), with a plan-level policy
for an operator's retract, `on_undo`:
- "none" (default): leave the message; the retract reports that nothing was undone;
- "correct": post a threaded correction, keyed by the compensation key in its metadata, so a
  rerun finds it instead of correcting twice;
- "delete": `chat.delete` the message (permanent); a message already gone counts as deleted.

An update's before-image travels with the write: the `chat.update` that changes the text also
stamps `pivot_update_key` (the step key) and `pivot_update_before` (the previous text) into the
metadata payload, keeping whatever the payload held (a post's own `pivot_key`). The lookup finds
the step's own stamp, so a retry after a lost answer takes the previous text from it instead of
mistaking the saga's text for the original. The restore puts the previous text back only while
the message still shows the saga's text; showing the previous text already means restored (a
rerun); anything else, or a deleted message, is somebody else's change: `CompensationConflict`,
nothing written. The restore stamps `pivot_update_undone`: what "already undone" looks like.
"""

import json
import os
import uuid
from datetime import timedelta
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict, RetryBudget
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, KeyedAction, Mismatch
from pivot.providers.slack.actions.history import EVENT_TYPE, History, key_of, payload_of
from pivot.providers.slack.client import SlackClient

CORRECTION_EVENT_TYPE = "pivot_saga_correction"
DEFAULT_CORRECTION = "Correction: please disregard the message above. The operation it announced was undone."
TS = r"^\d+\.\d+$"
CHANNEL = r"^[CGD][A-Z0-9]{2,20}$"
UPDATE_KEY = "pivot_update_key"
UPDATE_BEFORE = "pivot_update_before"
UPDATE_UNDONE = "pivot_update_undone"
MAX_METADATA_CHARS = 8000
"""Slack caps a message's metadata; a before-image that would not fit is refused up front."""
CONFORMANCE_CHANNEL_ENV = "PIVOT_SLACK_CONFORMANCE_CHANNEL"
CONFORMANCE_CHANNEL = "C024BE91L"
"""Where `pivot conformance` posts (the sandbox's #general) unless the environment names another."""

Message = dict[str, Any]
P = TypeVar("P", bound=BaseModel)


class SlackAction(KeyedAction[P, Message]):
    """An action bound to the Slack client and its reader of messages."""

    def __init__(self, client: SlackClient):
        self.client = client
        self.history = History(client)

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window


def conformance_channel() -> str:
    return os.environ.get(CONFORMANCE_CHANNEL_ENV) or CONFORMANCE_CHANNEL


def conformance_text() -> str:
    return f"Pivot conformance {uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- post_message


class PostMessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=CHANNEL)
    text: str = Field(min_length=1, max_length=4000)
    thread_ts: str | None = Field(default=None, pattern=TS)
    on_undo: Literal["none", "correct", "delete"] = Field(
        default="none", description="What an operator's retract does: nothing, a threaded correction, or delete"
    )
    correction: str | None = Field(default=None, min_length=1, max_length=4000,
                                   description="The correction's text when on_undo is 'correct'")


def _left() -> CompensationReport:
    return CompensationReport(state="nothing_to_undo", detail="on_undo is 'none': the Slack message stays as it was")


class PostMessage(SlackAction[PostMessageParams]):
    name: ClassVar[str] = "slack.post_message"
    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE
    params = PostMessageParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "metadata.event_payload.pivot_key", "message metadata event_payload.pivot_key; channel history (or the "
        "thread's replies) scanned before a (re)post")
    readback: ClassVar[str] = ("conversations.history (conversations.replies in a thread) at the message ts: text "
                               "and key")
    compensation: ClassVar[str] = (
        "none by the engine (people may have read it; it runs after the pivot); an operator's retract follows the "
        "plan's on_undo: 'none' leaves it, 'correct' posts a threaded correction keyed by the compensation key, "
        "'delete' uses chat.delete")
    not_run: ClassVar[str] = "No Slack message was sent"
    fenced: ClassVar[bool] = True  # no idempotency key at Slack: a retry waits out an earlier post's window
    lookup_before_write: ClassVar[bool] = True
    retry: ClassVar[RetryBudget] = RetryBudget(max_attempts=8)

    async def lookup(self, params: PostMessageParams, key: str) -> Message | None:
        return await self.history.find_by_key(params.channel, key, params.thread_ts)

    async def write(self, params: PostMessageParams, key: str) -> Message:
        payload: dict[str, Any] = {
            "channel": params.channel,
            "text": params.text,
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"pivot_key": key}},
        }
        if params.thread_ts:
            payload["thread_ts"] = params.thread_ts
        return await self.client.call("chat.postMessage", payload)

    async def read_back(self, params: PostMessageParams, key: str, written: Message) -> Message | None:
        """The message at its ts, while it carries the step's key."""
        found = await self.history.read(params.channel, str(written["ts"]), params.thread_ts)
        return found if found is not None and key_of(found) == key else None

    def verify(self, params: PostMessageParams, fresh: Message) -> JsonDict:
        ts = str(fresh["ts"])
        if fresh.get("text") != params.text:
            raise Mismatch(f"Slack message {ts} in {params.channel} does not match",
                           expected=params.text, actual=fresh.get("text"))
        return {"ref": f"slack:message/{params.channel}/{ts}", "channel": params.channel, "ts": ts,
                "text": fresh["text"]}

    def describe(self, result: JsonDict) -> str:
        return f"Slack message {result['ts']} was posted in {result['channel']}"

    def describe_undo(self, result: JsonDict) -> str:
        return f"Slack message {result['ts']} was retracted"

    async def undo(self, params: PostMessageParams, found: Message, result: JsonDict | None,
                   key: str) -> CompensationReport:
        if params.on_undo == "none":
            return _left()
        ts = str(found["ts"])
        if params.on_undo == "delete":
            return await self._delete(params.channel, ts)
        return await self._correct(params, key, ts)

    async def not_found(self, params: PostMessageParams, result: JsonDict | None, key: str) -> CompensationReport:
        if params.on_undo == "none":
            return _left()
        if result is None:
            return CompensationReport(state="nothing_to_undo", detail="Slack shows no message for this step")
        return CompensationReport(state="compensated", detail=f"Slack message {result['ts']} is already gone")

    async def _delete(self, channel: str, ts: str) -> CompensationReport:
        try:
            await self.client.call("chat.delete", {"channel": channel, "ts": ts})
        except ProviderRejected as rejected:
            if rejected.info.code != "message_not_found":
                raise
            return CompensationReport(state="compensated", detail=f"Slack message {ts} is already gone")
        return CompensationReport(state="compensated", detail=f"Slack message {ts} in {channel} deleted")

    async def _correct(self, params: PostMessageParams, key: str, ts: str) -> CompensationReport:
        root = params.thread_ts or ts
        existing = await self.history.find_by_key(params.channel, key, root)
        if existing is not None:
            return CompensationReport(state="compensated",
                                      detail=f"Slack message {ts} was corrected in its thread ({existing['ts']})")
        text = params.correction or DEFAULT_CORRECTION
        posted = await self.client.call("chat.postMessage", {
            "channel": params.channel,
            "thread_ts": root,
            "text": text,
            "metadata": {"event_type": CORRECTION_EVENT_TYPE, "event_payload": {"pivot_key": key, "corrects": ts}},
        })
        reply = await self.history.read(params.channel, str(posted["ts"]), root)
        if reply is None or reply.get("text") != text or key_of(reply) != key:
            raise ProviderRejected("readback_mismatch", f"Slack correction {posted['ts']} does not match")
        return CompensationReport(state="compensated",
                                  detail=f"Slack message {ts} was corrected in its thread ({posted['ts']})")

    # -- conformance ---------------------------------------------------------------------------
    async def example(self) -> PostMessageParams:
        return PostMessageParams(channel=conformance_channel(), text=conformance_text(), on_undo="delete")

    async def find_all(self, params: PostMessageParams, key: str) -> list[Message]:
        """Every message in the channel (or thread) carrying the key: a post sent twice shows as two."""
        return await self.history.all_by_key(params.channel, key, params.thread_ts)


# --------------------------------------------------------------------------- update_message


class UpdateMessageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=CHANNEL)
    ts: str = Field(pattern=TS)
    text: str = Field(min_length=1, max_length=4000)
    thread_ts: str | None = Field(default=None, pattern=TS, description="The thread, when the message is a reply")

    def ref(self) -> str:
        return f"slack:message/{self.channel}/{self.ts}"


def _metadata(message: Message, payload: dict[str, Any]) -> dict[str, Any]:
    event_type = (message.get("metadata") or {}).get("event_type") or EVENT_TYPE
    return {"event_type": event_type, "event_payload": payload}


class UpdateMessage(SlackAction[UpdateMessageParams]):
    name: ClassVar[str] = "slack.update_message"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = UpdateMessageParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"metadata.event_payload.{UPDATE_KEY}", f"message metadata event_payload.{UPDATE_KEY} with the previous "
        f"text ({UPDATE_BEFORE}), written by the same chat.update and read before writing")
    readback: ClassVar[str] = "conversations.history (or replies) at the message ts: text and the stamp's key"
    compensation: ClassVar[str] = ("restore the previous text only while the message still shows the saga's text; "
                                   "edited or deleted by someone else: CompensationConflict, nothing written")
    not_run: ClassVar[str] = "No Slack message was edited"
    retry: ClassVar[RetryBudget] = RetryBudget(max_attempts=8, max_interval=timedelta(seconds=10))

    async def _read(self, params: UpdateMessageParams) -> Message | None:
        return await self.history.read(params.channel, params.ts, params.thread_ts)

    async def lookup(self, params: UpdateMessageParams, key: str) -> Message | None:
        """The message while its stamp is this step's: the update by its key."""
        message = await self._read(params)
        return message if message is not None and payload_of(message).get(UPDATE_KEY) == key else None

    async def write(self, params: UpdateMessageParams, key: str) -> Message:
        message = await self._read(params)
        if message is None:
            raise ProviderRejected("message_not_found", f"Slack has no message {params.ts} in {params.channel}")
        payload = payload_of(message)
        if payload.get(UPDATE_KEY) == key:
            return message  # our update landed (a lookup skipped on a proven first write cannot get here)
        stamped = {**payload, UPDATE_KEY: key, UPDATE_BEFORE: str(message.get("text") or "")}
        stamped.pop(UPDATE_UNDONE, None)
        metadata = _metadata(message, stamped)
        if len(json.dumps(metadata)) > MAX_METADATA_CHARS:
            raise ProviderRejected("before_image_too_large", "the message's current text is too long to keep "
                                   "for an undo; refusing to write what could not be restored")
        await self.client.call("chat.update", {"channel": params.channel, "ts": params.ts, "text": params.text,
                                               "metadata": metadata})
        return message

    def verify(self, params: UpdateMessageParams, fresh: Message) -> JsonDict:
        if fresh.get("text") != params.text:
            raise Mismatch(f"Slack message {params.ts} does not show the update",
                           expected=params.text, actual=fresh.get("text"))
        return {"ref": params.ref(), "channel": params.channel, "ts": params.ts, "text": params.text,
                "before": str(payload_of(fresh).get(UPDATE_BEFORE, ""))}

    def describe(self, result: JsonDict) -> str:
        return f"Slack message {result['ts']} in {result['channel']} was edited"

    def describe_undo(self, result: JsonDict) -> str:
        return f"Slack message {result['ts']} was restored"

    def is_undone(self, found: Message) -> bool:
        return UPDATE_UNDONE in payload_of(found)

    def already_undone(self, found: Message) -> str:
        return f"Slack message {found['ts']} is already restored"

    async def undo(self, params: UpdateMessageParams, found: Message, result: JsonDict | None, key: str) -> str:
        before = str(result["before"]) if result is not None else str(payload_of(found).get(UPDATE_BEFORE, ""))
        return await self._restore(params, found, before, undo_key=key)

    async def not_found(self, params: UpdateMessageParams, result: JsonDict | None,
                        key: str) -> CompensationReport:
        message = await self._read(params)
        if message is None:
            raise CompensationConflict(f"Slack message {params.ts} was deleted after the saga updated it",
                                       expected=params.text, current=None)
        if result is None:
            return CompensationReport(state="nothing_to_undo",
                                      detail=f"Slack message {params.ts} shows no update by this step")
        detail = await self._restore(params, message, str(result["before"]), undo_key=None)
        return CompensationReport(state="compensated", detail=detail)

    async def _restore(self, params: UpdateMessageParams, message: Message, before: str,
                       undo_key: str | None) -> str:
        """Put `before` back while the message still shows the saga's text (else a conflict, nothing
        written); `undo_key` marks the step's own stamp as undone in the same chat.update."""
        current = message.get("text")
        if before == params.text or current == before:
            return f"Slack message {params.ts} is already restored"
        if current != params.text:
            raise CompensationConflict(f"someone edited Slack message {params.ts} after the saga; not restoring",
                                       expected=params.text, current=current)
        payload = payload_of(message)
        marked = {**payload, UPDATE_UNDONE: undo_key} if undo_key is not None else payload
        await self.client.call("chat.update", {"channel": params.channel, "ts": params.ts, "text": before,
                                               "metadata": _metadata(message, marked)})
        fresh = await self._read(params)
        if fresh is None or fresh.get("text") != before:
            raise ProviderRejected("readback_mismatch", f"Slack message {params.ts} does not show the restore")
        return f"Slack message {params.ts} restored to its previous text"

    # -- conformance ---------------------------------------------------------------------------
    async def example(self) -> UpdateMessageParams:
        """A message posted for the run (as someone else would have posted it), to edit."""
        channel = conformance_channel()
        posted = await self.client.call("chat.postMessage", {"channel": channel, "text": conformance_text()})
        return UpdateMessageParams(channel=channel, ts=str(posted["ts"]), text=f"{conformance_text()} (edited)")

    async def tamper(self, params: UpdateMessageParams, found: Message) -> None:
        """Someone edits the message's text (its metadata stays, as a person's edit leaves it)."""
        await self.client.call("chat.update", {"channel": params.channel, "ts": params.ts,
                                               "text": f"{found.get('text') or ''} (edited by someone)"})
