"""`SagaRun`: the Restate workflow an agent calls, keyed by its run id.

`run(plan)` executes once per run id (Restate answers 409 to a second `run`); `status()` is a
shared handler that reads the live outcome while `run` is still going.
"""

from typing import Any

import restate
from restate import WorkflowContext, WorkflowSharedContext
from restate.serde import BytesSerde

from compensations.actions import Catalog
from compensations.saga import ApprovalGate, run_saga, saga_status


def saga_run_workflow(catalog: Catalog, gate: ApprovalGate | None = None) -> restate.Workflow:
    workflow = restate.Workflow("SagaRun")

    # The plan arrives as raw bytes so that malformed JSON is a clear "rejected" (400) from our
    # own validation rather than a decoding failure inside the SDK.
    @workflow.main(name="run", input_serde=BytesSerde())
    async def run(ctx: WorkflowContext, plan: bytes) -> dict[str, Any]:
        return await run_saga(ctx, plan, catalog, gate)

    @workflow.handler(name="status")
    async def status(ctx: WorkflowSharedContext) -> dict[str, Any]:
        return await saga_status(ctx)

    return workflow
