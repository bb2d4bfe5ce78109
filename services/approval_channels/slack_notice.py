"""The Slack channel: a Block Kit message with Approve / Reject buttons, updated once decided."""

from typing import Any

from restate import ObjectContext

from pivot.compensations.approvals import PendingApproval


async def announce(ctx: ObjectContext, gate: PendingApproval) -> dict[str, Any] | None:
    """Not built yet: nothing is posted."""
    return None


async def settle(ctx: ObjectContext, gate: PendingApproval, posted: dict[str, Any], closing: dict[str, Any]) -> None:
    return None
