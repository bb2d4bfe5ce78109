"""The plan driver: a whole validated plan, run through the step API inside one workflow invocation.

The plan is known up front, so every step is in the outcome from the start (`pending`), the
pivot is known before anything runs (explicit, or the last compensable step), and independent
steps write concurrently, in the waves `schedule.py` derives from the plan. Everything else (keys, the compensation
registered before the write, the journaled write, unwinding) is `Saga`'s, as for every driver.
"""

from typing import Any

from restate import WorkflowContext, WorkflowSharedContext

from pivot.compensations import clock
from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.error_body import ErrorBody, error_body, violations_text
from pivot.compensations.keys import forward_key
from pivot.compensations.kinds import SagaStatus, StepState
from pivot.compensations.outcome import Outcome, summarize
from pivot.compensations.protocol import AlertSink, ApprovalGate
from pivot.compensations.record import SagaRecord, StepRecord
from pivot.compensations.saga import Saga
from pivot.compensations.schedule import Schedule, overlapping
from pivot.compensations.validation import (
    PlanRejected,
    ValidatedPlan,
    Violation,
    check_horizon,
    decode_plan,
    plan_digest,
    validate_plan,
)

OUTCOME_STATE = "outcome"
REPAIR_STATE = "repair"
REJECTED_STATUS_CODE = 400


def _show_running(record: SagaRecord, wave: list[int]) -> None:
    """The next wave's steps are shown running in the publish before it (no write of its own):
    `status` then shows every step in flight, not just the first."""
    for i in wave:
        record.steps[i].state = StepState.RUNNING


class PlanSaga(Saga):
    """A saga whose steps come from a plan; a needs_attention ending keeps what `pivot retry` needs."""

    raw_plan: Any = None

    async def finish(self, status: SagaStatus) -> None:
        if status is SagaStatus.NEEDS_ATTENTION:
            self.ctx.set(REPAIR_STATE, {"plan": self.raw_plan, "results": self.record.results()})  # type: ignore[attr-defined]
        await super().finish(status)


async def run_plan(
    ctx: WorkflowContext, run_id: str, plan: ValidatedPlan, catalog: Catalog, *, gate: ApprovalGate | None = None,
    alert: AlertSink | None = None, digest: str | None = None, raw_plan: Any = None,
    schedule: Schedule = overlapping,
) -> Outcome:
    record = SagaRecord(
        run_id=run_id, status=SagaStatus.RUNNING, plan_digest=digest, crossed=plan.pivot_index is None,
        steps=[StepRecord.of(spec, kind, forward_key(run_id, spec.id, spec.action))
               for spec, kind in zip(plan.steps, plan.kinds, strict=True)],
    )
    for step in record.steps:
        step.state = StepState.PENDING
    saga = PlanSaga(ctx, run_id, catalog, gate=gate, alert=alert, record=record,
                    publish=lambda r: ctx.set(OUTCOME_STATE, r.public_json(catalog)))
    saga.raw_plan = raw_plan
    waves = schedule(plan)
    _show_running(record, waves[0])
    saga.publish()
    for number, wave in enumerate(waves, start=1):
        failure = await saga.run_steps([record.steps[i] for i in wave])
        if failure is not None:
            for i in wave:  # a member that never began (its wave ended early) is not running
                if record.steps[i].state is StepState.RUNNING:
                    record.steps[i].state = StepState.PENDING
            await saga.fail(*failure)
            return saga.outcome
        if plan.pivot_index in wave:
            saga.cross()
        if number < len(waves):
            _show_running(record, waves[number])
            saga.publish()  # the last wave's states go out with the final status, in one write
    await saga.finish(SagaStatus.COMMITTED)
    return saga.outcome


def rejection(run_id: str, summary: str, violations: list[Violation]) -> ErrorBody:
    """A rejected plan's answer: the summary and the first problems in words, every violation in
    the body (the first ones in Restate's metadata), and the whole rejected outcome kept at
    `SagaRun/<run_id>/status`."""
    message = f"{summary.rstrip('.')}: {violations_text(violations)}." if violations else summary
    return error_body(REJECTED_STATUS_CODE, "plan_rejected", message, violations=violations, run=run_id)


async def run_saga(
    ctx: WorkflowContext, body: bytes | None, catalog: Catalog, gate: ApprovalGate | None = None,
    alert: AlertSink | None = None, schedule: Schedule = overlapping,
) -> JsonDict:
    """The body of `SagaRun.run`: decode and validate, then run; a rejected plan runs nothing."""
    run_id = ctx.key()
    digest = None
    try:
        raw = decode_plan(body)
        digest = plan_digest(raw)
        plan = validate_plan(raw, catalog)
        if any(step.not_before is not None for step in plan.steps):
            check_horizon(plan, await clock.now(ctx))
    except PlanRejected as rejected:
        outcome = Outcome(run_id=run_id, status=SagaStatus.REJECTED, violations=rejected.violations,
                          plan_digest=digest)
        outcome.summary = summarize(outcome, catalog)
        ctx.set(OUTCOME_STATE, outcome.model_dump(mode="json", exclude_none=True))
        raise rejection(run_id, outcome.summary, rejected.violations).terminal() from None
    outcome = await run_plan(ctx, run_id, plan, catalog, gate=gate, alert=alert, digest=digest, raw_plan=raw,
                             schedule=schedule)
    return outcome.model_dump(mode="json", exclude_none=True)


async def saga_status(ctx: WorkflowSharedContext) -> JsonDict:
    """The live outcome; the first pending step of a running saga is the one in flight."""
    stored = await ctx.get(OUTCOME_STATE, type_hint=dict)
    if stored is None:
        return Outcome(run_id=ctx.key(), status=SagaStatus.NOT_FOUND,
                       summary="No saga with this run id has been submitted.").model_dump(mode="json")
    outcome = Outcome.model_validate(stored)
    if outcome.status is SagaStatus.RUNNING and not any(s.state is StepState.RUNNING for s in outcome.steps):
        # An outcome published before waves were shown: the first pending step is the one in flight.
        current = next((s for s in outcome.steps if s.state is StepState.PENDING), None)
        if current is not None:
            current.state = StepState.RUNNING
    return outcome.model_dump(mode="json", exclude_none=True)
