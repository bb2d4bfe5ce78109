"""The email channel: a signed, single-use link to the approval page, sent through Resend."""

from typing import Any

from restate import ObjectContext

from pivot.compensations.approvals import PendingApproval


async def announce(ctx: ObjectContext, gate: PendingApproval) -> dict[str, Any] | None:
    """Not built yet: nothing is sent."""
    return None


async def settle(ctx: ObjectContext, gate: PendingApproval, posted: dict[str, Any], closing: dict[str, Any]) -> None:
    return None
