"""`SagaRepair/{run_id}`: the operator's retry of compensations that gave up.

`retry` re-runs a needs_attention saga's failed undos (exclusive: two operators cannot
retry the same saga at once); `get` returns what repairs did, which `SagaRun.status` overlays.
"""

import json
from typing import Any

import restate
from restate import ObjectContext, ObjectSharedContext
from restate.serde import BytesSerde

from pivot.compensations.actions import Catalog
from pivot.compensations.error_body import refusal
from pivot.compensations.repair import REPAIRS_STATE, retry_compensations
from pivot.services.handlers.empty_body import expect_empty

SAGA_REPAIR = "SagaRepair"


async def _call_saga(ctx: ObjectContext, handler: str) -> Any:
    raw = await ctx.generic_call("SagaRun", handler, arg=b"", key=ctx.key())
    return json.loads(raw) if raw else None


def saga_repair_object(catalog: Catalog) -> restate.VirtualObject:
    repair = restate.VirtualObject(SAGA_REPAIR)

    @repair.handler("retry", input_serde=BytesSerde())
    async def retry(ctx: ObjectContext, body: bytes) -> dict[str, Any]:
        expect_empty(body)
        context = await _call_saga(ctx, "repair_context")
        if not context:
            raise refusal(409, "nothing_to_repair",
                          f"saga {ctx.key()} does not need repair (not needs_attention, or unknown)", run=ctx.key())
        outcome = await _call_saga(ctx, "status")
        repairs = await retry_compensations(ctx, ctx.key(), context, outcome, catalog)
        return {"run_id": ctx.key(), "repairs": repairs}

    @repair.handler("get", kind="shared", ingress_private=True)
    async def get(ctx: ObjectSharedContext) -> dict[str, Any]:
        return await ctx.get(REPAIRS_STATE, type_hint=dict) or {}

    return repair
