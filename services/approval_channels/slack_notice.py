"""The Slack channel: the gate's Block Kit message with Approve / Reject, updated once it closes.

Posted once: Slack has no idempotency header, so the message carries a key made from the gate's id
(never from its content) in its metadata, and a retry looks for it before posting again; the first
attempt is proven by a journaled fence, and a retry first waits out the earlier post's in-flight
window, exactly as the `slack.post_message` action does. A click reaches Pivot through the
interactivity endpoint (services/local/slack_interactivity.py), which decides through
`Approval/{id}/decide` like every other channel.

Configuration (the service's environment): `PIVOT_SLACK_APPROVALS_CHANNEL` — the channel id (or
name) the messages go to; the bot token is the Slack provider's (`SLACK_BOT_TOKEN`).
"""

import asyncio
import os
from typing import Any

from restate import ObjectContext, RunOptions, TerminalError

from pivot.compensations import keys
from pivot.compensations.approvals import PendingApproval
from pivot.compensations.attempts import FirstWrite
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.compensations.protocol import fence
from pivot.providers.slack.actions.history import History
from pivot.providers.slack.approvals_config import CHANNEL_ENV
from pivot.services.approval_channels.slack_blocks import approval_blocks, decided_blocks, headline, outcome_line
from pivot.services.catalog import slack_client

EVENT_TYPE = "pivot_approval"
POST_ATTEMPTS = 6


def notice_key(approval_id: str) -> str:
    """The message's key: the gate's, for Slack (`keys.notice_key`) — never derived from content."""
    return keys.notice_key(approval_id, "slack", "approval-message")


def approvals_channel() -> str:
    channel = os.environ.get(CHANNEL_ENV, "").strip()
    if not channel:
        raise TerminalError(f"the gate names slack, but {CHANNEL_ENV} is not set: no channel to post it to")
    return channel


async def _post(gate_json: dict[str, Any], first: FirstWrite) -> dict[str, Any]:
    """Inside ctx.run: post the message unless an earlier attempt did (then: that message)."""
    gate = PendingApproval.model_validate(gate_json)
    channel, client = approvals_channel(), slack_client()
    key = notice_key(gate.approval_id)
    if not first.take():  # an earlier attempt may have posted: let its request land, then look for it
        await asyncio.sleep(client.http.in_flight_window.total_seconds())
        found = await History(client).find_by_key(channel, key)
        if found is not None:
            return {"channel": channel, "ts": str(found["ts"])}
    try:
        answer = await client.call("chat.postMessage", {
            "channel": channel, "text": f"Approval needed: {headline(gate)}", "blocks": approval_blocks(gate),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"pivot_key": key}}})
    except ProviderRejected as exc:
        raise TerminalError(f"Slack refused the approval message: {exc.info.message}") from None
    except ProviderUnavailable as exc:
        raise RuntimeError(exc.message) from None  # retried by Restate; the next attempt looks first
    return {"channel": str(answer.get("channel", channel)), "ts": str(answer["ts"])}


async def announce(ctx: ObjectContext, gate: PendingApproval) -> dict[str, Any] | None:
    fresh = await fence(ctx, "slack")
    return await ctx.run_typed("post approval message", _post, RunOptions(type_hint=dict, max_attempts=POST_ATTEMPTS),
                               gate_json=gate.model_dump(mode="json"), first=FirstWrite(fresh.first))


async def _update(gate_json: dict[str, Any], posted: dict[str, Any], closing: dict[str, Any]) -> bool:
    """Inside ctx.run: the message shows the outcome instead of the buttons (setting content: a
    repeat is harmless)."""
    gate = PendingApproval.model_validate(gate_json)
    try:
        await slack_client().call("chat.update", {
            "channel": posted["channel"], "ts": posted["ts"], "text": f"{outcome_line(closing)}: {headline(gate)}",
            "blocks": decided_blocks(gate, closing)})
    except ProviderRejected as exc:
        raise TerminalError(f"Slack refused to update the approval message: {exc.info.message}") from None
    except ProviderUnavailable as exc:
        raise RuntimeError(exc.message) from None
    return True


async def settle(ctx: ObjectContext, gate: PendingApproval, posted: dict[str, Any], closing: dict[str, Any]) -> None:
    await ctx.run_typed("update approval message", _update, RunOptions(type_hint=bool, max_attempts=POST_ATTEMPTS),
                        gate_json=gate.model_dump(mode="json"), posted=posted, closing=closing)
