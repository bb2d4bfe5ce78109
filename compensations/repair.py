"""Operator repair: retry the compensations that gave up, once the provider is back.

A saga that ended `needs_attention` because an undo kept failing keeps its plan and verified
results (state `repair`). `retry_compensations` re-runs exactly the failed undos, with the
same compensation keys (so an undo that did land meanwhile is found, not repeated), and
records what happened; `apply_repairs` overlays that record on the saga's outcome.
"""

from typing import Any

from restate import ObjectContext, RunOptions, TerminalError

from pivot.compensations import strict_json
from pivot.compensations.actions import Catalog, CompensationReport, JsonDict
from pivot.compensations.attempts import compensate_attempt, error_info
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import SagaStatus, StepState
from pivot.compensations.outcome import Outcome, summarize
from pivot.compensations.references import resolve
from pivot.compensations.validation import validate_plan

REPAIRS_STATE = "repairs"
RETRY_ATTEMPTS = 5


async def retry_compensations(
    ctx: ObjectContext, run_id: str, context: JsonDict, outcome_json: JsonDict, catalog: Catalog
) -> dict[str, Any]:
    plan = validate_plan(context["plan"], catalog)
    results: dict[str, JsonDict] = context.get("results") or {}
    outcome = Outcome.model_validate(outcome_json)
    repairs: dict[str, Any] = await ctx.get(REPAIRS_STATE, type_hint=dict) or {}
    for index, step in enumerate(outcome.steps):
        if step.state is not StepState.COMPENSATION_FAILED:
            continue
        if repairs.get(step.id, {}).get("state") in {"compensated", "nothing_to_undo"}:
            continue
        action = plan.actions[index]
        params = strict_json.validate(action.params, resolve(plan.steps[index].params, results))
        keys = StepKeys.derive(run_id, step.id, action.name)
        attempt = int(repairs.get(step.id, {}).get("attempt", 0)) + 1
        try:
            raw = await ctx.run_typed(
                f"{step.id}:compensate:retry{attempt}", compensate_attempt,
                RunOptions(type_hint=dict, max_attempts=RETRY_ATTEMPTS),
                action, params, keys, results.get(step.id), plan.steps[index].connection,
            )
        except TerminalError as exc:
            error = error_info(exc, action, action.compensation_retry)
            repairs[step.id] = {"state": "compensation_failed", "attempt": attempt, "error": error.model_dump()}
        else:
            report = CompensationReport.model_validate(raw)
            repairs[step.id] = {"state": report.state, "attempt": attempt, "detail": report.detail}
    ctx.set(REPAIRS_STATE, repairs)
    return repairs


def apply_repairs(outcome: Outcome, repairs: dict[str, Any], catalog: Catalog) -> Outcome:
    """The outcome as it stands after operator repairs: a saga whose every failed undo has been
    repaired, and that failed only in its undos, is `compensated` after all."""
    if not repairs:
        return outcome
    for step in outcome.steps:
        repair = repairs.get(step.id)
        if repair is None or step.state is not StepState.COMPENSATION_FAILED:
            continue
        if repair["state"] in {"compensated", "nothing_to_undo"}:
            step.state = StepState(repair["state"])
            step.compensation = f"{repair.get('detail', '')} (retried by an operator)".strip()
            step.error = None
    # Only an unwind leaves compensation_failed steps (a failure after the pivot never unwinds),
    # so once none is left the saga is what the unwind meant it to be.
    if outcome.status is SagaStatus.NEEDS_ATTENTION and all(
        s.state is not StepState.COMPENSATION_FAILED for s in outcome.steps
    ):
        outcome.status = SagaStatus.COMPENSATED
    outcome.summary = summarize(outcome, catalog)
    return outcome
