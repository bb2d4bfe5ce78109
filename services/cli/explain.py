"""`pivot check`: validate a plan offline and explain what Pivot will do with it.

For agent builders' CI: each step's kind, how its key travels, what is read back, how it is
undone, where the point of no return falls, and the split-state risks the order implies.
"""

from typing import Any

from pydantic import BaseModel

from pivot.compensations.actions import Catalog
from pivot.compensations.durations import short_duration
from pivot.compensations.kinds import StepKind
from pivot.compensations.validation import ValidatedPlan


class StepExplanation(BaseModel):
    id: str
    action: str
    kind: StepKind
    key_carrier: str
    readback: str
    compensation: str
    approval: str | None = None
    connection: str = "default"


class Explanation(BaseModel):
    steps: list[StepExplanation]
    pivot: str | None
    risks: list[str]


def explain(plan: ValidatedPlan, catalog: Catalog) -> Explanation:
    steps = []
    for spec, action, kind in zip(plan.steps, plan.actions, plan.kinds, strict=True):
        gate = None
        if spec.approval is not None:
            gate = f"waits up to {short_duration(spec.approval.timeout)} for {', '.join(spec.approval.approvers)}"
        steps.append(StepExplanation(id=spec.id, action=action.name, kind=kind, key_carrier=action.key_carrier,
                                     readback=action.readback, compensation=action.compensation, approval=gate,
                                     connection=spec.connection))
    pivot = plan.steps[plan.pivot_index].id if plan.pivot_index is not None else None
    return Explanation(steps=steps, pivot=pivot, risks=_risks(plan))


def _risks(plan: ValidatedPlan) -> list[str]:
    """Where the saga can end split (some effects standing, others not) and who must act then."""
    risks: list[str] = []
    pivot = plan.pivot_index
    if pivot is None:
        risks.append("No step can be undone: if any step fails, the ones before it stand and the saga "
                     "ends needs_attention.")
        return risks
    after = plan.steps[pivot + 1 :]
    if after:
        names = ", ".join(f"'{s.id}'" for s in after)
        risks.append(f"After the pivot '{plan.steps[pivot].id}' nothing is undone: if {names} cannot finish, "
                     "the pivot's effect stands and the saga ends needs_attention for an operator.")
    for spec, kind in zip(plan.steps, plan.kinds, strict=True):
        if kind is StepKind.NONCOMPENSABLE:
            risks.append(f"'{spec.id}' ({spec.action}) cannot be undone once done (people may have seen it).")
    for spec in plan.steps[: pivot + 1]:
        if spec.approval is not None:
            risks.append(f"'{spec.id}' parks the saga until a decision; the steps before it stay applied "
                         "while it waits, and are undone if it is rejected or expires.")
    return risks


def explanation_text(explanation: Explanation) -> list[str]:
    lines: list[str] = []
    for index, step in enumerate(explanation.steps, start=1):
        marker = "  ← point of no return" if step.id == explanation.pivot else ""
        where = f" via connection '{step.connection}'" if step.connection != "default" else ""
        lines.append(f"{index}. {step.id}: {step.action} [{step.kind.value}]{where}{marker}")
        lines.append(f"     key:      {step.key_carrier}")
        lines.append(f"     verifies: {step.readback}")
        lines.append(f"     undo:     {step.compensation}")
        if step.approval:
            lines.append(f"     approval: {step.approval}")
    if explanation.risks:
        lines.append("risks:")
        lines.extend(f"  - {risk}" for risk in explanation.risks)
    return lines


class KnownApprovers(BaseModel):
    """The approvers a gate may name, as far as this shell knows them, and from where."""

    names: list[str] | None
    source: str | None

    def sentence(self) -> str:
        if self.names is None:
            return ("approvers: not checked here (PIVOT_APPROVERS is not set and no local stack has run); the "
                    "service refuses a gate naming an approver it does not have")
        return f"approvers configured ({self.source}): {', '.join(self.names) or 'none'}"


def known_approvers() -> KnownApprovers:
    """`PIVOT_APPROVERS` when it is set here, else the local stack's approvers file, else unknown."""
    from pivot.services.catalog import configured_approvers
    from pivot.services.local import approver_tokens
    from pivot.services.local.stack_file import state_dir

    names = configured_approvers()
    if names is not None:
        return KnownApprovers(names=sorted(names), source="PIVOT_APPROVERS")
    local = state_dir() / "approvers"
    names = approver_tokens.local_approver_names(local)
    if names is not None:
        return KnownApprovers(names=sorted(names), source=f"the local stack, {local}")
    return KnownApprovers(names=None, source=None)


def plan_json_schema(catalog: Catalog) -> dict[str, Any]:
    """The plan's JSON Schema, with the action names of this catalog as an enum."""
    from pivot.compensations.plan import Plan

    schema = Plan.model_json_schema()
    step = schema["$defs"]["StepSpec"]["properties"]
    step["action"] = {**step["action"], "enum": sorted(catalog)}
    step["action"].pop("pattern", None)
    return schema
