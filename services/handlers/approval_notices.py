"""`ApprovalNotices/{approval}`: a gate's announcements in the channels it names, and their endings.

`Approval/{approval}` sends `announce` when the gate first opens and `settle` when it closes; one
object per gate runs them in that order. Kept apart from `Approval` so that a slow or failing
channel (Slack down, an email provider refusing) never delays a decision or a listing: the gate is
decided through any channel it names, whatever became of the others' announcements.
"""

import logging
from types import ModuleType
from typing import Any

import restate
from restate import ObjectContext, TerminalError

from pivot.compensations.approvals import PendingApproval
from pivot.services.approval_channels import email_notice, slack_notice

notices = restate.VirtualObject("ApprovalNotices", ingress_private=True)
CHANNELS: dict[str, ModuleType] = {"slack": slack_notice, "email": email_notice}
log = logging.getLogger("pivot.approvals")


@notices.handler("announce")
async def announce(ctx: ObjectContext, pending: dict[str, Any]) -> None:
    if await ctx.get("gate", type_hint=dict) is not None:
        return  # announced already: a redelivered message posts nothing twice
    ctx.set("gate", pending)
    gate = PendingApproval.model_validate(pending)
    for name, channel in CHANNELS.items():
        if name not in gate.channels:
            continue
        try:
            posted = await channel.announce(ctx, gate)
        except TerminalError as exc:
            log.warning("approval=%s the %s announcement failed: %s", ctx.key(), name, exc.message,
                        extra={"approval": ctx.key()})
            ctx.set(f"failed:{name}", exc.message)
            continue
        if posted is not None:
            ctx.set(f"posted:{name}", posted)


@notices.handler("settle")
async def settle(ctx: ObjectContext, closing: dict[str, Any]) -> None:
    pending = await ctx.get("gate", type_hint=dict)
    if pending is None or await ctx.get("settled", type_hint=dict) is not None:
        return
    ctx.set("settled", closing)
    gate = PendingApproval.model_validate(pending)
    for name, channel in CHANNELS.items():
        posted = await ctx.get(f"posted:{name}", type_hint=dict)
        if posted is None:
            continue
        try:
            await channel.settle(ctx, gate, posted, closing)
        except TerminalError as exc:
            log.warning("approval=%s the %s update failed: %s", ctx.key(), name, exc.message,
                        extra={"approval": ctx.key()})
