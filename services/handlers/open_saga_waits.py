"""The wire between an open saga's agent-facing handlers and its engine: bells, replies, answers.

The engine (`Saga/{run_id}/run`, one invocation for the saga's whole life) awaits the durable
promises `bell:0`, `bell:1`, ... in order, and after taking one says in state (`engine.bell`) which
it waits for next. A caller resolves the first bell still free with its message: Restate answers
409 to a second resolve of a promise, so concurrent callers each get a slot of their own and no
message is lost. The message names a reply promise of the caller's own (`reply:<uuid>`), which the
engine resolves; the caller waits for it at most its `wait_s` (one durable timer) and otherwise
answers with what is true then.
"""

from datetime import timedelta
from typing import Any

import restate
from restate import TerminalError, WorkflowSharedContext

from pivot.compensations.actions import JsonDict
from pivot.compensations.error_body import ErrorBody

RECORD_STATE = "outcome"
"""The record is a superset of the outcome, under the same state key as a plan's outcome, so
`pivot list` and `pivot journal` read both kinds of saga alike."""
ENGINE_STATE = "engine"
"""`{"bell": the next bell the engine will take, "taken": the run id names a plan}`."""
_ALREADY_COMPLETED = 409

GRACE_S = 5.0
"""How long a call that asked not to wait (`wait_s: 0`, `open`) waits for the engine's immediate
answer before it looks at the record itself: never forever, even if its bell rang after the saga
ended (the engine answers the bells it finds after its end, and then it is gone)."""

Timer = Any
"""A durable sleep future."""


def bell(index: int) -> str:
    return f"bell:{index}"


def timer_for(ctx: WorkflowSharedContext, wait_s: float) -> Timer:
    return ctx.sleep(timedelta(seconds=wait_s if wait_s > 0 else GRACE_S))


async def ring(ctx: WorkflowSharedContext, first: int, message: JsonDict) -> None:
    """Deliver `message` to the engine through the first free bell from `first` on."""
    index = first
    while True:
        try:
            await ctx.promise(bell(index), type_hint=dict).resolve(message)
            return
        except TerminalError as exc:
            if exc.status_code != _ALREADY_COMPLETED:
                raise
            index += 1


async def within(ctx: WorkflowSharedContext, promise: str, timer: Timer) -> tuple[JsonDict | None, Any]:
    """The promise's value if it comes before the timer (None after it), and the promise's future,
    to await later without a timer (each future is awaited at most once)."""
    future: Any = ctx.promise(promise, type_hint=dict).value()
    done, _ = await restate.wait_completed(future, timer)
    if future not in done:
        return None, future
    return await future, future


def answered(reply: JsonDict) -> JsonDict:
    """The engine's reply as the handler's answer, or its refusal raised as the Restate error."""
    if "error" in reply:
        raise ErrorBody.model_validate(reply["error"]).terminal()
    answer: JsonDict = reply["ok"]
    return answer


def refused(error: ErrorBody) -> JsonDict:
    return {"error": error.model_dump(mode="json", exclude_none=True)}


def step_view(public: JsonDict, target: str, asked: str | None = None, duplicate: bool = False) -> JsonDict:
    """What a step call answers: the step's outcome (a duplicate answers the earlier step it
    repeats, under the id asked) and the saga's."""
    step = next(s for s in public["steps"] if s["id"] == target)
    if duplicate:
        step = {**step, "id": asked, "duplicate_of": target}
    return {"step": step, "saga": public}
