"""The journaled wall clock, on the event loop.

restate-sdk's `ctx.time()` journals `time.time()` through a synchronous `ctx.run`, which the SDK
hands to a thread pool: a thread hop and a loop wake-up for one float. These run as coroutines
instead, under the same entry name ("timestamp"), so the journal is the same as `ctx.time()`'s.
`stamped` journals a check and the time it was made in one entry, where a handler needs both.
"""

import time
from collections.abc import Callable
from typing import Any

from restate import Context, RunOptions

ENTRY_NAME = "timestamp"


async def _wall_clock() -> float:
    return time.time()


async def now(ctx: Context) -> float:
    """`ctx.time()`, without the thread hop: journaled once, replayed thereafter."""
    return await ctx.run_typed(ENTRY_NAME, _wall_clock, RunOptions(type_hint=float))


def stamped(fn: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """`fn`'s verdict with the time it was made (`"at"`), journaled as one entry."""

    async def with_time(*args: Any) -> dict[str, Any]:
        return {**fn(*args), "at": time.time()}

    with_time.__name__ = getattr(fn, "__name__", "stamped")
    return with_time
