"""Bounded waits for the open saga's shared handlers: attach to an invocation, or give up in time.

An agent's call waits at most its `wait_s` (one durable timer per call) for the invocation
that runs its step or ends its saga, and then answers with what is true at that moment; the
invocation itself goes on, and a later call attaches to it again.
"""

from typing import Any

import restate
from restate import Context, TerminalError

Timer = Any
"""A durable sleep future, or None for "do not wait at all"."""


async def attach_within(ctx: Context, invocation: str, timer: Timer) -> Any | None:
    """The invocation's result if it completes before the timer, else None (also when it failed)."""
    if timer is None:
        return None
    attached: Any = ctx.attach_invocation(invocation)
    done, _ = await restate.wait_completed(attached, timer)
    if attached not in done:
        return None
    try:
        return await attached
    except TerminalError:
        return None


async def wait_all_within(ctx: Context, invocations: list[str], timer: Timer) -> bool:
    """True once every invocation has completed (however it ended), False if the timer fired first."""
    if not invocations:
        return True
    if timer is None:
        return False
    remaining: list[Any] = [ctx.attach_invocation(invocation) for invocation in invocations]
    while remaining:
        done, _ = await restate.wait_completed(*remaining, timer)
        if timer in done:
            return False
        remaining = [f for f in remaining if f not in done]
    return True
