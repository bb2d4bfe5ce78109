"""The saga runner: the step protocol and the compensation stack, on Restate.

Per step: derive keys → register the compensation (in memory; replay re-registers it before
reaching the journaled write, so it needs no journal entry of its own) → one journaled
`ctx.run` that looks up by key, writes if absent, reads back and verifies → record the
verified result. A terminal failure at or before the pivot unwinds the stack in reverse; after
the pivot nothing is unwound and the saga ends `needs_attention`.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import restate
from pydantic import BaseModel, ValidationError
from restate import RunOptions, TerminalError, WorkflowContext, WorkflowSharedContext
from restate.serde import BytesSerde

from compensations.actions import Action, Catalog, CompensationReport, JsonDict
from compensations.approvals import PendingApproval, approval_id
from compensations.attempts import compensate_attempt, error_info, forward_attempt, is_cancel, run_options
from compensations.errors import ErrorInfo
from compensations.keys import StepKeys
from compensations.kinds import SagaStatus, StepState
from compensations.outcome import Decision, Outcome, StepOutcome, summarize
from compensations.references import ReferenceProblem, resolve
from compensations.validation import PlanRejected, ValidatedPlan, decode_plan, plan_digest, validate_plan

OUTCOME_STATE = "outcome"
REPAIR_STATE = "repair"
REJECTED_STATUS_CODE = 400

log = logging.getLogger("pivot.saga")


class ApprovalGate(Protocol):
    """How a parked saga reaches the approvals inbox; services/ implements it.

    `opened` and `closed` are called from the saga handler (they may send Restate messages);
    `verify` runs inside `ctx.run` (it reads approver credentials from the environment, so
    only its verdict is journaled, never a token).
    """

    def opened(self, ctx: WorkflowContext, pending: PendingApproval, awakeable_id: str) -> None: ...

    def closed(self, ctx: WorkflowContext, approval: str, closing: JsonDict) -> None: ...

    def verify(self, raw: bytes, pending: JsonDict) -> JsonDict: ...


AlertSink = Callable[[JsonDict], bool]
"""Delivers a needs_attention outcome to people (a webhook); runs inside `ctx.run`."""


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


class Saga:
    """One run of one validated plan inside a Restate workflow invocation."""

    def __init__(
        self, ctx: WorkflowContext, run_id: str, plan: ValidatedPlan, catalog: Catalog,
        gate: ApprovalGate | None = None, digest: str | None = None,
        alert: AlertSink | None = None, raw_plan: Any = None,
    ):
        self.ctx = ctx
        self.gate = gate
        self.alert = alert
        self.raw_plan = raw_plan
        self.run_id = run_id
        self.plan = plan
        self.catalog = catalog
        self.keys = [StepKeys.derive(run_id, s.id, s.action) for s in plan.steps]
        self.outcome = Outcome(
            run_id=run_id,
            status=SagaStatus.RUNNING,
            plan_digest=digest,
            steps=[
                StepOutcome(id=s.id, action=s.action, kind=kind, key=keys.forward)
                for s, kind, keys in zip(plan.steps, plan.kinds, self.keys, strict=True)
            ],
        )
        self.params: dict[int, BaseModel] = {}
        self.results: dict[str, JsonDict] = {}

    def publish(self) -> None:
        """One state write per transition that a reader of `status` needs."""
        self.outcome.summary = summarize(self.outcome, self.catalog)
        self.ctx.set(OUTCOME_STATE, self.outcome.model_dump(mode="json", exclude_none=True))

    def _units(self) -> list[list[int]]:
        """Steps in execution order; a parallel group (adjacent compensable steps sharing a
        `group`, validated) is one unit whose writes run concurrently."""
        units: list[list[int]] = []
        for index, step in enumerate(self.plan.steps):
            previous = self.plan.steps[index - 1] if index else None
            if step.group is not None and previous is not None and previous.group == step.group:
                units[-1].append(index)
            else:
                units.append([index])
        return units

    async def run(self) -> Outcome:
        self.publish()
        stack: list[int] = []
        pivot = self.plan.pivot_index
        last = len(self.plan.steps) - 1
        for unit in self._units():
            writes: dict[int, Any] = {}
            for index in unit:
                refusal = await self._prepare(index, stack)
                if refusal is not None:
                    return await self._fail(index, refusal, stack)
                writes[index] = await self._start_write(index)
            failure = await self._collect(writes)
            if failure is not None:
                return await self._fail(failure[0], failure[1], stack)
            if pivot in unit:
                stack.clear()  # point of no return
            if unit[-1] < last:
                self.publish()  # the last step's state goes out with the final status, in one write
        return await self._finish(SagaStatus.COMMITTED)

    async def _prepare(self, index: int, stack: list[int]) -> ErrorInfo | None:
        """Everything before a step's write: params from verified results, a schedule, an
        approval, and the compensation registered before the write (a lost answer is undone)."""
        step, action = self.plan.steps[index], self.plan.actions[index]
        try:
            params = action.params.model_validate(resolve(step.params, self.results))
        except (ReferenceProblem, ValidationError) as exc:
            return ErrorInfo(code="bad_params", message=str(exc))
        self.params[index] = params
        try:
            if step.not_before is not None:
                await self._sleep_until(step.not_before.timestamp(), step.id)
            refusal = await self._await_approval(index, params) if step.approval is not None else None
        except TerminalError as exc:
            if not is_cancel(exc):
                raise
            refusal = ErrorInfo(code="cancelled", message="the saga was cancelled before this step ran")
        if refusal is not None:
            return refusal
        pivot = self.plan.pivot_index
        if pivot is not None and index <= pivot and action.compensate is not None:
            stack.append(index)
        return None

    async def _start_write(self, index: int) -> Any:
        step, action = self.plan.steps[index], self.plan.actions[index]
        fenced_until = await self._fence(step.id, action) if action.fenced else None
        return self.ctx.run_typed(
            f"{step.id}:{action.name}", forward_attempt, RunOptions(type_hint=dict),
            action, self.params[index], self.keys[index], {"run_id": self.run_id, "step_id": step.id},
            fenced_until,
        )

    async def _collect(self, writes: dict[int, Any]) -> tuple[int, ErrorInfo] | None:
        """Await the unit's writes (together, if several) and record each verified result.
        Returns the first failure; every other member keeps its own state and error."""
        indices = list(writes)
        try:
            if len(writes) > 1:
                await restate.gather(*writes.values())
        except TerminalError as exc:
            if not is_cancel(exc):
                raise
            await self._settle([self.plan.actions[i] for i in indices], self.plan.steps[indices[0]].id)
            return indices[0], error_info(exc, self.plan.actions[indices[0]], self.plan.actions[indices[0]].retry)
        failure: tuple[int, ErrorInfo] | None = None
        for index, write in writes.items():
            action = self.plan.actions[index]
            try:
                self._verified(index, await write)
            except TerminalError as exc:
                error = error_info(exc, action, action.retry)
                if error.code == "cancelled":
                    await self._settle([action], self.plan.steps[index].id)
                if failure is None:
                    failure = (index, error)
                else:
                    self.outcome.steps[index].state, self.outcome.steps[index].error = StepState.FAILED, error
        return failure

    async def _settle(self, actions: list[Action], step_id: str) -> None:
        """A cancel aborts the attempt, not the request already on the wire. Give it the provider's
        in-flight window to land (or die) before the unwind looks it up by key, so a write that
        lands late is undone instead of orphaned."""
        window = max(action.in_flight_window for action in actions)
        await self.ctx.sleep(window, name=f"{step_id}:settle")

    async def _fence(self, step_id: str, action: Action) -> float | None:
        """Journal when this step's first attempt began. If that entry is replayed rather than
        executed now, an earlier process attempted the write and may have left it in flight:
        the attempt must wait until that request can no longer land before it looks up."""
        fresh = False

        def begin() -> float:
            nonlocal fresh
            fresh = True
            return time.time()

        began = await self.ctx.run_typed(f"{step_id}:begin", begin, RunOptions(type_hint=float))
        return None if fresh else began + action.in_flight_window.total_seconds()

    async def _sleep_until(self, epoch_s: float, step_id: str) -> None:
        """A scheduled write: sleep durably (the invocation suspends) until its time."""
        now = await self.ctx.time()
        if epoch_s > now:
            await self.ctx.sleep(timedelta(seconds=epoch_s - now), name=f"{step_id}:not_before")

    async def _await_approval(self, index: int, params: BaseModel) -> ErrorInfo | None:
        """Park on an awakeable until a valid decision or the deadline, whichever comes first.

        A decision that is malformed, from someone not on the list, or with a bad proof does
        not move the saga: it is refused and a fresh awakeable is armed (the deadline stands).
        Returns None when approved, else why the step must not run.
        """
        if self.gate is None:
            return ErrorInfo(code="approvals_unavailable", message="this deployment has no approvals inbox")
        spec = self.plan.steps[index].approval
        assert spec is not None
        step = self.outcome.steps[index]
        now = await self.ctx.time()
        pending = PendingApproval(
            approval_id=approval_id(self.run_id, step.id), run_id=self.run_id, step_id=step.id,
            action=step.action, params=params.model_dump(mode="json"), approvers=spec.approvers,
            reason=spec.reason, requested_at=now, deadline=now + spec.timeout.total_seconds(),
            done=[{"id": s.id, "action": s.action, "ref": s.ref} for s in self.outcome.steps[:index]],
        )
        step.state = StepState.WAITING_APPROVAL
        step.approval = {"approval_id": pending.approval_id, "approvers": spec.approvers, "reason": spec.reason,
                         "deadline": _iso(pending.deadline)}
        self.outcome.status = SagaStatus.WAITING_APPROVAL
        self.publish()
        deadline = self.ctx.sleep(timedelta(seconds=spec.timeout.total_seconds()), name=f"{step.id}:deadline")
        while True:
            awakeable_id, decision = self.ctx.awakeable(serde=BytesSerde())
            self.gate.opened(self.ctx, pending, awakeable_id)
            try:
                match await restate.select(decision=decision, deadline=deadline):
                    case ["decision", raw]:
                        verdict = await self.ctx.run_typed(
                            f"{step.id}:verify_decision", self.gate.verify, RunOptions(type_hint=dict),
                            raw, pending.model_dump(mode="json"),
                        )
                    case _:
                        self.gate.closed(self.ctx, pending.approval_id, {"expired": True})
                        step.state = StepState.PENDING
                        return ErrorInfo(code="approval_expired",
                                         message=f"no decision before the deadline {_iso(pending.deadline)}")
            except TerminalError as exc:
                if is_cancel(exc):
                    self.gate.closed(self.ctx, pending.approval_id, {"cancelled": True})
                    self.outcome.status = SagaStatus.RUNNING
                    raise
                log.warning("run=%s step=%s approval awakeable rejected; re-armed", self.run_id, step.id,
                            extra={"run_id": self.run_id, "step_id": step.id})
                continue
            if not verdict.get("ok"):
                log.warning("run=%s step=%s decision refused: %s", self.run_id, step.id, verdict.get("problem"),
                            extra={"run_id": self.run_id, "step_id": step.id})
                continue
            at = await self.ctx.time()
            step.decision = Decision(approved=bool(verdict["approved"]), approver=str(verdict["approver"]),
                                     at=_iso(at), comment=str(verdict.get("comment", "")))
            self.gate.closed(self.ctx, pending.approval_id, {"decision": step.decision.model_dump()})
            self.outcome.status = SagaStatus.RUNNING
            step.state = StepState.PENDING
            self.publish()
            if step.decision.approved:
                return None
            return ErrorInfo(code="approval_rejected",
                             message=f"{step.decision.approver} rejected it"
                             + (f": {step.decision.comment}" if step.decision.comment else ""))

    def _verified(self, index: int, result: JsonDict) -> None:
        step = self.outcome.steps[index]
        step.state, step.ref, step.result = StepState.VERIFIED, result["ref"], result
        self.results[step.id] = result

    async def _fail(self, index: int, error: ErrorInfo, stack: list[int]) -> Outcome:
        step = self.outcome.steps[index]
        step.state, step.error = StepState.FAILED, error
        for later in self.outcome.steps[index + 1 :]:
            if later.state is StepState.PENDING:
                later.state = StepState.NOT_RUN
        log.warning("run=%s step=%s failed: %s %s", self.run_id, step.id, error.code, error.message,
                    extra={"run_id": self.run_id, "step_id": step.id})
        pivot = self.plan.pivot_index
        if pivot is None or index > pivot:
            self._alert(f"step '{step.id}' failed after the point of no return")
            return await self._finish(SagaStatus.NEEDS_ATTENTION)
        self.publish()
        clean = await self._unwind(stack)
        return await self._finish(SagaStatus.COMPENSATED if clean else SagaStatus.NEEDS_ATTENTION)

    async def _unwind(self, stack: list[int]) -> bool:
        """Run registered compensations in reverse. Each one finds the effect by key first, so a
        step whose forward answer was lost is undone too. Members of one parallel group are
        undone concurrently. One failure never stops the rest."""
        clean = True
        for batch in self._undo_batches(stack):
            undos = {
                index: self.ctx.run_typed(
                    f"{self.plan.steps[index].id}:compensate", compensate_attempt,
                    run_options(self.plan.actions[index].compensation_retry, dict),
                    self.plan.actions[index], self.params[index], self.keys[index],
                    self.results.get(self.plan.steps[index].id),
                )
                for index in batch
            }
            if len(undos) > 1:
                await restate.gather(*undos.values())
            for index, undo in undos.items():
                clean = await self._record_undo(index, undo) and clean
            self.publish()
        return clean

    def _undo_batches(self, stack: list[int]) -> list[list[int]]:
        batches: list[list[int]] = []
        for index in reversed(stack):
            group = self.plan.steps[index].group
            if batches and group is not None and self.plan.steps[batches[-1][0]].group == group:
                batches[-1].append(index)
            else:
                batches.append([index])
        return batches

    async def _record_undo(self, index: int, undo: Any) -> bool:
        action, step = self.plan.actions[index], self.outcome.steps[index]
        try:
            raw = await undo
        except TerminalError as exc:
            step.state = StepState.COMPENSATION_FAILED
            step.error = error_info(exc, action, action.compensation_retry)
            self._alert(f"compensation of '{step.id}' failed: {step.error.message}")
            return False
        report = CompensationReport.model_validate(raw)
        step.compensation = report.detail
        if report.state == "compensated":
            step.state = StepState.COMPENSATED
        elif step.state is StepState.VERIFIED:
            step.state = StepState.NOTHING_TO_UNDO
        return True

    def _alert(self, reason: str) -> None:
        log.error("run=%s needs_attention: %s; outcome=%s", self.run_id, reason,
                  self.outcome.model_dump_json(exclude={"summary"}), extra={"run_id": self.run_id})

    async def _finish(self, status: SagaStatus) -> Outcome:
        self.outcome.status = status
        self.publish()
        if status is SagaStatus.NEEDS_ATTENTION:
            # What an operator's `pivot retry` needs later; written only for sagas that need it.
            self.ctx.set(REPAIR_STATE, {"plan": self.raw_plan, "results": self.results})
            if self.alert is not None:
                try:
                    await self.ctx.run_typed("alert", self.alert, RunOptions(max_attempts=5, type_hint=bool),
                                             self.outcome.model_dump(mode="json", exclude_none=True))
                except TerminalError as exc:
                    log.error("run=%s alert could not be delivered: %s", self.run_id, exc.message,
                              extra={"run_id": self.run_id})
        log.info("run=%s finished %s", self.run_id, status.value, extra={"run_id": self.run_id})
        return self.outcome


async def run_saga(
    ctx: WorkflowContext, body: bytes | None, catalog: Catalog, gate: ApprovalGate | None = None,
    alert: AlertSink | None = None,
) -> JsonDict:
    """The body of `SagaRun.run`: decode and validate, then run; a rejected plan runs nothing."""
    run_id = ctx.key()
    digest = None
    try:
        raw = decode_plan(body)
        digest = plan_digest(raw)
        plan = validate_plan(raw, catalog)
    except PlanRejected as rejected:
        outcome = Outcome(run_id=run_id, status=SagaStatus.REJECTED, violations=rejected.violations,
                          plan_digest=digest)
        outcome.summary = summarize(outcome, catalog)
        rejected_body = outcome.model_dump(mode="json", exclude_none=True)
        ctx.set(OUTCOME_STATE, rejected_body)
        raise TerminalError(json.dumps(rejected_body), status_code=REJECTED_STATUS_CODE) from None
    outcome = await Saga(ctx, run_id, plan, catalog, gate, digest, alert, raw).run()
    return outcome.model_dump(mode="json", exclude_none=True)


async def saga_status(ctx: WorkflowSharedContext) -> JsonDict:
    """The live outcome; the first pending step of a running saga is the one in flight."""
    stored = await ctx.get(OUTCOME_STATE, type_hint=dict)
    if stored is None:
        return Outcome(run_id=ctx.key(), status=SagaStatus.NOT_FOUND,
                       summary="No saga with this run id has been submitted.").model_dump(mode="json")
    outcome = Outcome.model_validate(stored)
    if outcome.status is SagaStatus.RUNNING:
        current = next((s for s in outcome.steps if s.state is StepState.PENDING), None)
        if current is not None:
            current.state = StepState.RUNNING
    return outcome.model_dump(mode="json", exclude_none=True)
