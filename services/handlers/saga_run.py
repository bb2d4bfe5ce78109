"""`SagaRun`: the Restate workflow an agent calls, keyed by its run id.

`run(plan)` executes once per run id (Restate answers 409 to a second `run`); `status()` is a
shared handler that reads the live outcome while `run` is still going.
"""

import json
from typing import Any

import restate
from restate import WorkflowContext, WorkflowSharedContext
from restate.serde import BytesSerde

from pivot.compensations.actions import Catalog
from pivot.compensations.outcome import Outcome
from pivot.compensations.plans import REPAIR_STATE, run_saga, saga_status
from pivot.compensations.protocol import AlertSink, ApprovalGate
from pivot.compensations.repair import apply_repairs
from pivot.compensations.schedule import Schedule, overlapping
from pivot.services.handlers.empty_body import expect_empty
from pivot.services.handlers.names import CLAIM_HEADER, SAGA_RUN, SUSPEND_AFTER

CLAIM_STATE = "claimed_by"


def claimed_answer(run_id: str) -> dict[str, Any]:
    """What the plan workflow says about a run id that an open saga claimed: no plan here."""
    return {"run_id": run_id, "status": "not_found", "mode": "open",
            "summary": f"Run id {run_id} names an open saga: see Saga/{run_id}/status."}


def saga_run_workflow(
    catalog: Catalog, gate: ApprovalGate | None = None, alert: AlertSink | None = None, *,
    name: str = SAGA_RUN, schedule: Schedule = overlapping,
) -> restate.Workflow:
    """`SagaRun`; `name` and `schedule` let a benchmark serve the same workflow with another
    schedule (one step at a time) beside it, to compare the two in one run."""
    workflow = restate.Workflow(name, inactivity_timeout=SUSPEND_AFTER)

    # The plan arrives as raw bytes so that malformed JSON is a clear "rejected" (400) from our
    # own validation rather than a decoding failure inside the SDK.
    @workflow.main(name="run", input_serde=BytesSerde())
    async def run(ctx: WorkflowContext, plan: bytes) -> dict[str, Any]:
        if ctx.request().headers.get(CLAIM_HEADER) == "open":
            # An open saga claims its run id here: a workflow runs once per key, so no plan can
            # run under it afterwards (their idempotency keys would be the same). Costs plans nothing.
            ctx.set(CLAIM_STATE, "open")
            return claimed_answer(ctx.key())
        return await run_saga(ctx, plan, catalog, gate, alert, schedule)

    @workflow.handler(name="status", input_serde=BytesSerde())
    async def status(ctx: WorkflowSharedContext, request: bytes) -> dict[str, Any]:
        """The live outcome, with any operator repairs applied."""
        expect_empty(request)
        body = await saga_status(ctx)
        if body.get("status") == "not_found" and await ctx.get(CLAIM_STATE, type_hint=str) == "open":
            return claimed_answer(ctx.key())
        if body.get("status") != "needs_attention":
            return body
        raw = await ctx.generic_call("SagaRepair", "get", arg=b"", key=ctx.key())
        repairs = json.loads(raw) if raw else {}
        if not repairs:
            return body
        return apply_repairs(Outcome.model_validate(body), repairs, catalog).model_dump(mode="json", exclude_none=True)

    @workflow.handler(name="repair_context", ingress_private=True)
    async def repair_context(ctx: WorkflowSharedContext) -> dict[str, Any] | None:
        """Plan and verified results of a needs_attention saga, for `SagaRepair.retry`."""
        return await ctx.get(REPAIR_STATE, type_hint=dict)

    return workflow
