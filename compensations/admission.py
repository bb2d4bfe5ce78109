"""Whether a saga takes one more step, and how: run it now, defer it to commit, replay it, or refuse.

Pure functions of the saga record, so the open saga (across invocations) and a user's own
handler (in one invocation) decide exactly alike. Nothing here writes anywhere: a refused
step leaves the record as it was.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from pivot.compensations import strict_json
from pivot.compensations.actions import Action, Catalog, JsonDict
from pivot.compensations.error_body import ErrorBody, error_body
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind, StepState
from pivot.compensations.plan import MAX_STEPS, StepSpec
from pivot.compensations.record import SagaRecord, StepRecord, request_digest
from pivot.compensations.references import ReferenceProblem, iter_references, resolve
from pivot.compensations.validation import Violation, check_step


class StepRefused(Exception):
    """The saga will not take this step as asked; nothing was recorded or written.

    `status` is the HTTP answer: 400 for a request that is wrong on its own (unknown action, bad
    params, a reference to nothing), 409 for one that conflicts with the saga as it stands
    (the id already ran with other params, the saga is closed, the pivot is behind it).
    """

    def __init__(self, status: int, code: str, message: str, violations: list[Violation] | None = None, *,
                 step: str | None = None, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.violations = violations
        self.step = step
        self.field = field

    def error(self, run: str) -> ErrorBody:
        """What the caller is answered (`ErrorBody.terminal()` raises it in a handler)."""
        return error_body(self.status, self.code, self.message, violations=self.violations, run=run,
                          step=self.step, field=self.field)


Verdict = Literal["replay", "run", "deferred", "busy", "duplicate"]


@dataclass
class Admission:
    verdict: Verdict
    step: StepRecord | None = None
    """The recorded step (replay, run, deferred), or the earlier step a duplicate repeats; None when busy."""
    busy: list[StepRecord] = field(default_factory=list)
    """The steps in flight that a pivot must wait for before it may run."""


TAKING_EFFECT = frozenset({StepState.VERIFIED, StepState.RUNNING, StepState.WAITING_APPROVAL, StepState.DEFERRED})
"""Steps whose write happened, is happening, or will happen at commit: a second equal step would
double it. A failed step took no effect, so asking for it again under a new id is a real retry."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def duplicate_of(record: SagaRecord, spec: StepSpec, catalog: Catalog,
                 resolved: BaseModel | None = None) -> StepRecord | None:
    """The earlier step that makes the same write as `spec` — same action, same connection, and the
    same params as asked or as resolved — unless `spec` says it repeats one on purpose.

    The step id comes from a model: one that timed out, lost its context or retried sends the same
    call under a new id, and the structural key (run, step, action) would make that a second, real
    write. This is the guard one level up from the key."""
    if spec.repeat:
        return None
    asked = _canonical(spec.params)
    mine = _canonical(resolved.model_dump(mode="json")) if resolved is not None else None
    for step in record.steps:
        if (step.id == spec.id or step.action != spec.action or step.connection_name != spec.connection
                or step.state not in TAKING_EFFECT):
            continue
        if _canonical(step.params) == asked:
            return step
        if mine is not None:
            theirs = resolve_params(step.params, catalog[step.action], record.results())
            if isinstance(theirs, BaseModel) and _canonical(theirs.model_dump(mode="json")) == mine:
                return step
    return None


def resolve_params(params: dict[str, Any], action: Action, results: dict[str, JsonDict]) -> BaseModel | ErrorInfo:
    """Params with every `$from` replaced by the verified value it names, validated by the action."""
    try:
        return strict_json.validate(action.params, resolve(params, results))
    except (ReferenceProblem, ValidationError) as exc:
        return ErrorInfo(code="bad_params", message=str(exc))


def _differences(old: Any, new: Any, path: str = "") -> list[tuple[str, str]]:
    """Where two JSON values differ: each path, with "path: old → new" in words."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, str]] = []
        for key in sorted(set(old) | set(new)):
            out += _differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in _differences(a, b, f"{path}[{i}]")]
    if old == new:
        return []
    return [(path, f"{path or 'value'}: {json.dumps(old)[:80]} → {json.dumps(new)[:80]}")]


def conflict(existing: StepRecord, spec: StepSpec) -> StepRefused:
    asked = {"action": spec.action, "params": spec.params, "pivot": spec.pivot, "connection": spec.connection,
             "approval": spec.approval.model_dump(mode="json") if spec.approval else None}
    had = {"action": existing.action, "params": existing.params, "pivot": existing.pivot,
           "connection": existing.connection_name,
           "approval": existing.gate.model_dump(mode="json") if existing.gate else None}
    differences = _differences(had, asked)
    return StepRefused(
        409, "step_conflict",
        f"step '{spec.id}' was already asked for with other arguments "
        f"({'; '.join(said for _, said in differences[:5])}); nothing "
        "was written. A step id names one write: use a new id for a different write.",
        step=spec.id, field=differences[0][0] if differences else None,
    )


def _closed(record: SagaRecord, spec: StepSpec) -> StepRefused:
    return StepRefused(409, "saga_closed",
                       f"saga {record.run_id} is {record.status.value}; it takes no more steps ('{spec.id}' was "
                       "not recorded). Open a new saga with a new run id.", step=spec.id)


def _check_references(record: SagaRecord, spec: StepSpec, deferred: bool) -> list[Violation]:
    """A step that runs now may use only results already verified; a deferred one may also name a
    step asked for later (it is resolved at commit), but never itself."""
    known = {s.id: s for s in record.steps}
    problems = []
    for path, source in iter_references(spec.params):
        target = source.partition(".")[0]
        where = f"params.{path}"
        if target == spec.id:
            problems.append(Violation(step=spec.id, path=where, rule="reference_order",
                                      message="a step cannot reference its own result",
                                      fix="reference an earlier step"))
        elif deferred:
            continue
        elif target not in known or known[target].state is not StepState.VERIFIED:
            state = known[target].state.value if target in known else "unknown"
            problems.append(Violation(step=spec.id, path=where, rule="reference_order",
                                      message=f"references step '{target}', which has no verified result ({state})",
                                      fix="reference a step of this saga that has verified, or pass the value"))
    return problems


def invalid(problems: list[Violation]) -> StepRefused:
    return StepRefused(400, "invalid_step", "; ".join(f"{v.path}: {v.message}" for v in problems), problems)


def refuse_if_invalid(spec: StepSpec, catalog: Catalog) -> None:
    """What a step can be refused for on its own, before anyone looks at the saga."""
    problems = check_step(spec, catalog)
    if problems:
        raise invalid(problems)


def admit(record: SagaRecord, spec: StepSpec, catalog: Catalog) -> Admission:
    """Decide what the saga does with one more step, and record it unless it is refused or busy."""
    refuse_if_invalid(spec, catalog)
    existing = record.step(spec.id)
    if existing is not None:
        if existing.request != request_digest(spec):
            raise conflict(existing, spec)
        return Admission("replay", existing)
    if not record.is_open:
        raise _closed(record, spec)
    twin = duplicate_of(record, spec, catalog)
    if twin is not None:
        return Admission("duplicate", twin)
    if len(record.steps) >= MAX_STEPS:
        raise StepRefused(409, "too_many_steps",
                          f"saga {record.run_id} already has {MAX_STEPS} steps; commit it and start another",
                          step=spec.id)
    action = catalog[spec.action]
    kind = StepKind.PIVOT if spec.pivot else action.kind
    pivot = next((s for s in record.steps if s.pivot and s.state is not StepState.FAILED), None)
    if spec.pivot and pivot is not None:
        raise StepRefused(409, "one_pivot", f"saga {record.run_id} already has its pivot '{pivot.id}'; a saga has "
                          "one point of no return. Ask for this step without `pivot`.", step=spec.id, field="pivot")
    if kind is StepKind.COMPENSABLE and (record.crossed or pivot is not None):
        where = f"the pivot '{pivot.id}'" if pivot is not None else "the point of no return"
        raise StepRefused(409, "after_pivot", f"{spec.action} is compensable, but the saga is past {where}: it "
                          "could never be undone. Commit this saga and do it in a new one.", step=spec.id)
    deferred = kind in {StepKind.RETRYABLE, StepKind.NONCOMPENSABLE} and not record.crossed
    problems = _check_references(record, spec, deferred)
    if not deferred and not problems:
        resolved = resolve_params(spec.params, action, record.results())
        if isinstance(resolved, ErrorInfo):
            problems = [Violation(step=spec.id, path="params", rule="params", message=resolved.message,
                                  fix=f"see `pivot actions` for the params of {spec.action}")]
        elif (twin := duplicate_of(record, spec, catalog, resolved)) is not None:
            return Admission("duplicate", twin)  # the same write, with a `$from` swapped for its value
    if problems:
        raise invalid(problems)
    if spec.pivot and record.in_flight():
        return Admission("busy", busy=record.in_flight())
    step = StepRecord.of(spec, kind, StepKeys.derive(record.run_id, spec.id, spec.action).forward)
    step.state = StepState.DEFERRED if deferred else StepState.RUNNING
    record.steps.append(step)
    return Admission("deferred" if deferred else "run", step)
