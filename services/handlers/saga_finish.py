"""`SagaFinish.run`: the end of an open saga, commit or unwind, in an invocation of its own.

The ledger starts it once (commit, abort, a timeout, or a step failure that ends the saga) and
from then on takes no more steps. It first waits for every step still in flight to settle
(an abort has cancelled them; a cancelled write is given its in-flight window to land), then
drives the in-memory `Saga` over the ledger's record: commit runs the deferred steps, unwind
runs the registered compensations in reverse. Its output is the final outcome.
"""

import contextlib
import json
from typing import Any

import restate
from restate import Context, TerminalError

from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.protocol import AlertSink, ApprovalGate
from pivot.compensations.record import SagaRecord
from pivot.compensations.saga import Saga
from pivot.services.handlers.names import SAGA, SAGA_FINISH, SUSPEND_AFTER


def saga_finish_service(catalog: Catalog, gate: ApprovalGate | None = None,
                        alert: AlertSink | None = None) -> restate.Service:
    service = restate.Service(SAGA_FINISH, inactivity_timeout=SUSPEND_AFTER, ingress_private=True)

    @service.handler("run")
    async def run(ctx: Context, job: JsonDict) -> JsonDict:
        run_id = str(job["run_id"])
        if job.get("record") is not None:
            record = SagaRecord.model_validate(job["record"])
        else:
            for invocation in job.get("wait_for") or []:
                with contextlib.suppress(TerminalError):  # however the step ended, it reported to the ledger
                    await ctx.attach_invocation(invocation)
            raw = await ctx.generic_call(SAGA, "snapshot", arg=b"", key=run_id)
            record = SagaRecord.model_validate(json.loads(raw))
        record.finisher = ctx.request().id
        shown = [record.model_dump_json(exclude_none=True)]
        final: list[Any] = []

        def publish(current: SagaRecord) -> None:
            """Each state a reader needs, once; the final one as a call, so that the ledger holds it
            before anyone is answered with it (intermediate ones are sends, delivered in order)."""
            body = current.model_dump_json(exclude_none=True)
            if body == shown[-1]:
                return
            shown.append(body)
            if current.status.is_final:
                final.append(ctx.generic_call(SAGA, "publish", arg=body.encode(), key=run_id))
            else:
                ctx.generic_send(SAGA, "publish", arg=body.encode(), key=run_id)

        saga = Saga(ctx, run_id, catalog, gate=gate, alert=alert, record=record, publish=publish)
        if job["mode"] == "commit":
            await saga.commit()
        elif job["mode"] == "abort":
            await saga.abort(job.get("reason"))
        else:
            failed = record.step(str(job["step"]))
            assert failed is not None
            await saga.end_after_failure(failed)
        for call in final:
            await call
        return record.public_json(catalog)

    return service
