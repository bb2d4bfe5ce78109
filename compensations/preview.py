"""What one more step would do, decided by the same admission code as the real step, writing nothing.

An agent (or the person watching it) asks before it acts: will this run now or wait for commit,
what is its kind and how is it undone, which keys will it carry, does an approval gate stand in
front of it, do the saga's ordering rules let it in, what do its `$from` references resolve to,
and is it a duplicate of a write the saga already made. `preview` runs `admission.admit` on a
copy of the saga's record, so the answer cannot drift from what `step` would do, and neither the
record nor any provider is touched.
"""

from typing import Any, Literal

from pydantic import BaseModel, Field

from pivot.compensations.actions import Catalog
from pivot.compensations.admission import StepRefused, admit, resolve_params
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.plan import Approval, StepSpec
from pivot.compensations.record import SagaRecord
from pivot.compensations.references import iter_references

PreviewVerdict = Literal["run", "deferred", "replay", "duplicate", "busy", "refused"]

VERDICT_MEANING: dict[str, str] = {
    "run": "would run now: written, read back and verified before the answer",
    "deferred": "would be recorded now and sent only at commit, after the point of no return",
    "replay": "this step id already ran: the call would answer its recorded result and write nothing",
    "duplicate": "an earlier step makes the same write: the call would answer that step and write nothing "
                 "(send repeat: true if a second write is meant)",
    "busy": "would wait for the steps in flight before it runs (it is the pivot)",
    "refused": "would be refused: nothing would be recorded or written",
}


class OrderCheck(BaseModel):
    """Whether the saga's rules let the step in as asked."""

    ok: bool
    code: str | None = None
    message: str | None = None
    violations: list[dict[str, Any]] | None = None


class StepKeysView(BaseModel):
    forward: str
    compensation: str


class Preview(BaseModel):
    run_id: str
    step: str
    action: str
    verdict: PreviewVerdict
    meaning: str
    kind: StepKind | None = Field(description="The step's kind in this saga (the pivot, if it would be the one)")
    compensation: str | None = Field(description="How the step is undone if the saga unwinds (or why it is not)")
    keys: StepKeysView
    deferred: bool
    approval: Approval | None = Field(description="The gate the step would wait at")
    order: OrderCheck
    resolved_params: dict[str, Any] | None = Field(
        description="The params with every `$from` resolved from verified results, as the write would send them; "
                    "null while a reference waits for a step that has not verified")
    unresolved: list[str] = Field(default_factory=list, description="References that resolve only later")
    duplicate_of: str | None = None
    saga_status: SagaStatus
    writes: str = "nothing (a preview records no step and calls no provider)"


RUN_ID_TAKEN = StepRefused(409, "run_id_taken", "the run id already names a plan saga; use a new run id")


def preview(record: SagaRecord | None, run_id: str, spec: StepSpec, catalog: Catalog, *,
            taken_by_plan: bool = False) -> Preview:
    """The decision `admit` would make for `spec` on the saga as it stands (a new saga if None;
    `taken_by_plan`: none can be opened under this run id)."""
    trial = record.model_copy(deep=True) if record is not None else SagaRecord(
        run_id=run_id, status=SagaStatus.OPEN, mode="open")
    action = catalog.get(spec.action)
    order = OrderCheck(ok=True)
    verdict: PreviewVerdict
    kind: StepKind | None = None
    duplicate: str | None = None
    try:
        if taken_by_plan:
            raise RUN_ID_TAKEN
        admission = admit(trial, spec, catalog)
        verdict = admission.verdict
        if admission.step is not None:
            kind = admission.step.kind
            duplicate = admission.step.id if verdict == "duplicate" else None
    except StepRefused as refused:
        verdict = "refused"
        order = OrderCheck(ok=False, code=refused.code, message=refused.message,
                           violations=[v.model_dump() for v in refused.violations] if refused.violations else None)
    if kind is None and action is not None:
        kind = StepKind.PIVOT if spec.pivot else action.kind
    results = trial.results()
    verified = {s.id for s in trial.steps if s.state is StepState.VERIFIED}
    unresolved = [f"params.{path}: {source}" for path, source in iter_references(spec.params)
                  if source.partition(".")[0] not in verified]
    resolved: dict[str, Any] | None = None
    if action is not None and not unresolved:
        params = resolve_params(spec.params, action, results)
        resolved = None if isinstance(params, ErrorInfo) else params.model_dump(mode="json")
    keys = StepKeys.derive(run_id, spec.id, spec.action)
    return Preview(
        run_id=run_id, step=spec.id, action=spec.action, verdict=verdict, meaning=VERDICT_MEANING[verdict],
        kind=kind, compensation=action.compensation if action is not None else None,
        keys=StepKeysView(forward=keys.forward, compensation=keys.compensation),
        deferred=verdict == "deferred", approval=spec.approval, order=order, resolved_params=resolved,
        unresolved=unresolved, duplicate_of=duplicate, saga_status=trial.status,
    )
