"""`SagaStep.run`: a gated step of an open saga (an approval), in an invocation of its own.

A step parked on an approval may wait for days; in the saga's engine it would be a wait that an
abort must be able to stop, so it runs here, where the engine can cancel it (the gate closes, the
step fails as `cancelled`). It drives the same step protocol as every other driver
(`pivot.compensations.saga.Saga.run_steps`): params from verified results, the approval gate,
the compensation registered before the write, one journaled lookup → write → read-back. Each
change the gate makes is reported to the engine (`Saga/{run_id}/report`, a bell); the step's
final state is this invocation's result, which the engine attaches to. It never decides the
saga's fate: the engine does.

Under the `report` policy a failed step's own undo runs here first: its lookup by key shows
that nothing took effect (or undoes the part that did), and the result says so.
"""

import json
import logging
from typing import Any

import restate
from restate import Context, TerminalError

from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.attempts import is_cancel
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.kinds import StepState
from pivot.compensations.protocol import ApprovalGate
from pivot.compensations.record import SagaRecord, StepRecord
from pivot.compensations.saga import Saga
from pivot.services.handlers.names import SAGA, SAGA_STEP, SUSPEND_AFTER

log = logging.getLogger("pivot.saga")


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


async def _execute(saga: Saga, step: StepRecord) -> None:
    failure = await saga.run_steps([step])
    if failure is None:
        return
    failed, error = failure
    failed.state, failed.error = StepState.FAILED, error
    record = saga.record
    if record.on_failure == "report" and record.is_open and not record.crossed and failed.registered:
        await saga.undo([failed])


def saga_step_service(catalog: Catalog, gate: ApprovalGate | None = None) -> restate.Service:
    service = restate.Service(SAGA_STEP, inactivity_timeout=SUSPEND_AFTER, ingress_private=True)

    @service.handler("run")
    async def run(ctx: Context, job: JsonDict) -> JsonDict:
        record = SagaRecord.model_validate(job["record"])
        step = record.step(job["step"])
        assert step is not None
        run_id = record.run_id

        def show(_: SagaRecord) -> None:
            """A gate opened or was decided: the engine shows it at once. A send, which no cancel stops."""
            report = {"kind": "progress", "step": step.model_dump(mode="json")}
            ctx.generic_send(SAGA, "report", arg=_json(report), key=run_id)

        try:
            await _execute(Saga(ctx, run_id, catalog, gate=gate, record=record, publish=show), step)
        except TerminalError as exc:  # never leave the step "running" forever
            if not step.error:
                step.state = StepState.FAILED
                step.error = ErrorInfo(code="cancelled" if is_cancel(exc) else "step_failed", message=exc.message)
            log.warning("run=%s step=%s ended early: %s", run_id, step.id, exc.message,
                        extra={"run_id": run_id, "step_id": step.id})
        return step.model_dump(mode="json")

    return service
