"""The step protocol's journaled parts, on any Restate context.

A step's write is one `ctx.run` (look up by key, write if absent, read back, verify); its undo
is one more. Around them: the fence for providers without an idempotency key, the wait for a
cancelled write to land, a durable sleep until a scheduled time, and the approval gate. Every
driver (plan, open saga, a user's handler) uses these and nothing else to touch a provider.
"""

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import restate
from pydantic import BaseModel
from restate import Context, RunOptions, TerminalError
from restate.serde import BytesSerde

from pivot.compensations import clock
from pivot.compensations.actions import Action, JsonDict
from pivot.compensations.approvals import PendingApproval, approval_digest, approval_id
from pivot.compensations.attempts import (
    WAIT_WHOLE_WINDOW,
    FirstWrite,
    compensate_attempt,
    forward_attempt,
    is_cancel,
    run_options,
)
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepState
from pivot.compensations.outcome import Decision
from pivot.compensations.record import StepRecord

log = logging.getLogger("pivot.saga")


class ApprovalGate(Protocol):
    """How a parked step reaches the approvals inbox; services/ implements it.

    `opened` and `closed` are called from the handler (they may send Restate messages). A decision
    that arrives through the gate's own `decide` was closed there (its verdict says
    `gate_closed`), so `closed` is called only for the other endings: a decision resolved
    straight through the awakeable, the deadline, a cancellation;
    `verify` runs inside `ctx.run` (it reads approver credentials from the environment, so
    only its verdict is journaled, never a token).
    """

    def opened(self, ctx: Context, pending: PendingApproval, awakeable_id: str) -> None: ...

    def closed(self, ctx: Context, approval: str, closing: JsonDict) -> None: ...

    def verify(self, raw: bytes, pending: JsonDict) -> JsonDict: ...

    def describe(self, pending: JsonDict) -> JsonDict:
        """What the step will do in words, for every channel: `{"summary": {...}, "shown": "..."}`.
        Runs inside `ctx.run` once per gate: the text is journaled, so it is the same on replay
        even after a deployment phrases it differently."""
        ...


AlertSink = Callable[[JsonDict], bool]
"""Delivers a needs_attention outcome to people (a webhook); runs inside `ctx.run`."""


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


class RunChain:
    """Whether the latest journaled write of this invocation ran in this attempt, or was replayed.

    If it ran now, no earlier attempt got its result acknowledged, so no earlier attempt went past
    it: a write that comes after it cannot have been sent before. That is what lets a provider skip
    its lookup by key on a first attempt (the lookup resolves a write an earlier attempt may have
    made; on a first attempt there is none). A replay says nothing, so the lookup stays. Whether a
    fence entry is journaled depends only on whether a write came before in this invocation, never
    on freshness, so the journal is the same on every attempt.
    """

    def __init__(self) -> None:
        self.latest: bool | None = None
        """None before the invocation's first tracked run; then whether the latest one ran now."""

    def run(self, ctx: Context, name: str, fn: Callable[..., Any], options: RunOptions[Any],
            *args: Any) -> Awaitable[Any]:
        self.latest = False

        if inspect.iscoroutinefunction(fn):
            async def tracked_async(*call: Any) -> Any:
                self.latest = True
                return await fn(*call)
            return ctx.run_typed(name, tracked_async, options, *args)

        def tracked(*call: Any) -> Any:
            self.latest = True
            return fn(*call)
        return ctx.run_typed(name, tracked, options, *args)


async def _began() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class Freshness:
    """What the journal proves about a unit of writes (one step, or a wave sent together)."""

    first: bool
    """No earlier attempt can have sent any write of the unit: a lookup by key would find nothing."""
    began: float | None = None
    """When the unit's fence first ran (journaled), if it has one: an earlier attempt sent its
    writes no earlier than that."""


async def fence(ctx: Context, step_id: str) -> Freshness:
    """Journal the fence before an invocation's first unit of writes: whether it runs now or is
    replayed tells whether an earlier attempt may have sent them. One journal entry, where a
    lookup by key is a provider round trip per write."""
    chain = RunChain()
    began = await chain.run(ctx, f"{step_id}:begin", _began, RunOptions(type_hint=float))
    return Freshness(first=bool(chain.latest), began=began)


def start_write(
    ctx: Context, run_id: str, step: StepRecord, action: Action, params: BaseModel, chain: RunChain,
    fresh: Freshness,
) -> Awaitable[JsonDict]:
    """Begin the step's one journaled write; the caller awaits it (alone, or with its wave).

    `fresh` says whether an earlier attempt may have sent it: the invocation's first unit of
    writes learns it from its fence (`fence`), every later unit from the unit before it
    (`RunChain`). A write that may have been sent is looked up by key first; for a fenced action
    (no idempotency key, a lookup that cannot see a request in flight) only once the earlier
    request's in-flight window has passed; for any other action whose late copy could outlive its
    undo, the undo waits for that window instead (`attempts.SETTLE_FIELD`)."""
    fenced_until: float | None = None
    if action.fenced and not fresh.first:
        fenced_until = (fresh.began + action.in_flight_window.total_seconds() if fresh.began is not None
                        else WAIT_WHOLE_WINDOW)
    return chain.run(
        ctx, f"{step.id}:{action.name}", forward_attempt, RunOptions(type_hint=dict),
        action, params, StepKeys.derive(run_id, step.id, action.name), {"run_id": run_id, "step_id": step.id},
        fenced_until, step.connection_name, FirstWrite(fresh.first),
    )


def start_undo(ctx: Context, run_id: str, step: StepRecord, action: Action, params: BaseModel) -> Awaitable[JsonDict]:
    """Begin a step's journaled compensation: it finds the effect by key first, so a write whose
    answer was lost is undone too, and one that never landed is reported as nothing to undo."""
    return ctx.run_typed(
        f"{step.id}:compensate", compensate_attempt, run_options(action.compensation_retry, dict),
        action, params, StepKeys.derive(run_id, step.id, action.name), step.result, step.connection_name,
        step.settle_until,
    )


async def let_in_flight_land(ctx: Context, actions: list[Action], step_id: str) -> None:
    """A cancel aborts the attempt, not the request already on the wire. Give it the provider's
    in-flight window to land (or die) before an unwind looks it up by key, so a write that
    lands late is undone instead of orphaned."""
    window = max(action.in_flight_window for action in actions)
    await ctx.sleep(window, name=f"{step_id}:settle")


async def sleep_until(ctx: Context, epoch_s: float, step_id: str) -> None:
    """A scheduled write: sleep durably (the invocation suspends) until its time."""
    now = await clock.now(ctx)
    if epoch_s > now:
        await ctx.sleep(timedelta(seconds=epoch_s - now), name=f"{step_id}:not_before")


async def await_approval(
    ctx: Context, gate: ApprovalGate | None, run_id: str, step: StepRecord, params: BaseModel,
    done: list[JsonDict], changed: Callable[[bool], None],
) -> ErrorInfo | None:
    """Park on an awakeable until a valid decision or the deadline, whichever comes first.

    A decision that is malformed, from someone not on the list, or with a bad proof does not
    move the saga: it is refused and a fresh awakeable is armed (the deadline stands).
    `changed(waiting)` is called once the step shows the gate, and again once it is decided,
    so the driver can publish it. Returns None when approved, else why the step must not run.
    """
    if gate is None:
        return ErrorInfo(code="approvals_unavailable", message="this deployment has no approvals inbox")
    spec = step.gate
    assert spec is not None
    now = await clock.now(ctx)
    pending = PendingApproval(
        approval_id=approval_id(run_id, step.id), run_id=run_id, step_id=step.id, action=step.action,
        params=params.model_dump(mode="json"), approvers=spec.approvers, reason=spec.reason, requested_at=now,
        deadline=now + spec.timeout.total_seconds(), done=done, channels=spec.channels,
        requested_by=spec.requested_by,
    )
    described = await ctx.run_typed(f"{step.id}:shown", gate.describe, RunOptions(type_hint=dict),
                                     pending.model_dump(mode="json"))
    pending = pending.model_copy(update={"summary": described.get("summary"), "shown": str(described["shown"])})
    pending = pending.model_copy(update={"digest": approval_digest(pending)})
    step.state = StepState.WAITING_APPROVAL
    step.approval = {"approval_id": pending.approval_id, "approvers": spec.approvers, "reason": spec.reason,
                     "deadline": iso(pending.deadline), "channels": spec.channels}
    changed(True)
    deadline = ctx.sleep(timedelta(seconds=spec.timeout.total_seconds()), name=f"{step.id}:deadline")
    while True:
        awakeable_id, decision = ctx.awakeable(serde=BytesSerde())
        gate.opened(ctx, pending, awakeable_id)
        try:
            match await restate.select(decision=decision, deadline=deadline):
                case ["decision", raw]:
                    verdict = await ctx.run_typed(
                        f"{step.id}:verify_decision", clock.stamped(gate.verify), RunOptions(type_hint=dict),
                        raw, pending.model_dump(mode="json"),
                    )
                case _:
                    gate.closed(ctx, pending.approval_id, {"expired": True})
                    step.state = StepState.PENDING
                    return ErrorInfo(code="approval_expired",
                                     message=f"no decision before the deadline {iso(pending.deadline)}")
        except TerminalError as exc:
            if is_cancel(exc):
                gate.closed(ctx, pending.approval_id, {"cancelled": True})
                step.state = StepState.PENDING
                changed(False)
                raise
            log.warning("run=%s step=%s approval awakeable rejected; re-armed", run_id, step.id,
                        extra={"run_id": run_id, "step_id": step.id})
            continue
        if not verdict.get("ok"):
            log.warning("run=%s step=%s decision refused: %s", run_id, step.id, verdict.get("problem"),
                        extra={"run_id": run_id, "step_id": step.id})
            continue
        step.decision = Decision(approved=bool(verdict["approved"]), approver=str(verdict["approver"]),
                                 at=iso(float(verdict["at"])), comment=str(verdict.get("comment", "")),
                                 channel=verdict.get("channel"))
        if not verdict.get("gate_closed"):
            gate.closed(ctx, pending.approval_id, {"decision": step.decision.model_dump()})
        step.state = StepState.PENDING
        changed(False)
        if step.decision.approved:
            return None
        return ErrorInfo(code="approval_rejected",
                         message=f"{step.decision.approver} rejected it"
                         + (f": {step.decision.comment}" if step.decision.comment else ""))


async def deliver_alert(ctx: Context, alert: AlertSink, run_id: str, outcome: JsonDict) -> None:
    """Hand a needs_attention outcome to people; a delivery that keeps failing is logged, not fatal."""
    try:
        await ctx.run_typed("alert", alert, RunOptions(max_attempts=5, type_hint=bool), outcome)
    except TerminalError as exc:
        log.error("run=%s alert could not be delivered: %s", run_id, exc.message, extra={"run_id": run_id})

