"""The outcome contract: what a saga returns and what `status` shows while it runs.

The summary is the sentence an agent relays to its user. It is built only from verified
states and verified results, never from params or from anything the agent said.
"""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from pivot.compensations.actions import Action
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.validation import Violation


class Decision(BaseModel):
    """A human decision on an approval gate."""

    approved: bool
    approver: str
    at: str
    comment: str = ""
    channel: str | None = None
    """Where it was decided: page, cli, slack, email or chat."""


class StepOutcome(BaseModel):
    id: str
    action: str
    kind: StepKind
    state: StepState = StepState.PENDING
    ref: str | None = None
    key: str | None = None
    connection: str | None = Field(default=None, description="The provider account it wrote to, when not the default")
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    compensation: str | None = Field(default=None, description="What the compensation found and did")
    decision: Decision | None = None
    approval: dict[str, Any] | None = Field(default=None, description="The gate: approvers, reason, deadline")
    note: str | None = Field(default=None, description="Why a step did not run (e.g. a deferred step not sent)")
    duplicate_of: str | None = Field(
        default=None, description="This call repeated an earlier step's write under a new step id: the answer is "
                                  "that step's, and nothing was written (send `repeat: true` to mean a second write)")


class Outcome(BaseModel):
    run_id: str
    status: SagaStatus
    steps: list[StepOutcome] = Field(default_factory=list)
    summary: str = ""
    violations: list[Violation] | None = None
    plan_digest: str | None = Field(default=None, description="sha256 of the submitted plan (canonical JSON)")
    mode: Literal["plan", "open"] | None = Field(
        default=None, description="How the saga is driven: a whole plan, or an open saga built step by step")
    on_failure: Literal["unwind", "report"] | None = Field(
        default=None, description="Open sagas: what a failure before the pivot does")
    idle_timeout: str | None = Field(default=None, description="Open sagas: unwinds after this long without a call")
    deadline: str | None = Field(default=None, description="Open sagas: unwinds (or finishes) at this time")
    reason: str | None = Field(default=None, description="Why the saga closed, when it was not committed by the agent")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else text + "."


def _open_sentence(outcome: Outcome) -> str:
    """What an open saga's agent may still do, true for where it stands: before its point of no
    return abort undoes what took effect; past it abort is refused, only commit finishes it."""
    pivot = next((s for s in outcome.steps if s.kind is StepKind.PIVOT and s.state is StepState.VERIFIED), None)
    if pivot is not None:
        return (f"The saga is open past its point of no return ('{pivot.id}'): commit to finish it; abort is "
                "refused, since nothing done from there on can be undone.")
    undoable = [s.id for s in outcome.steps if s.state is StepState.VERIFIED and s.kind is StepKind.COMPENSABLE]
    in_flight = [s.id for s in outcome.steps if s.state in {StepState.RUNNING, StepState.WAITING_APPROVAL}]
    if undoable:
        then = "abort to undo " + ", ".join(f"'{name}'" for name in undoable)
    elif in_flight:
        then = "abort to cancel " + ", ".join(f"'{name}'" for name in in_flight)
    else:
        then = "abort to close it (nothing has taken effect)"
    return f"The saga is open: commit to finish it, or {then}."


def summarize(outcome: Outcome, actions: Mapping[str, Action]) -> str:
    """Say what is true now, step by step, from verified facts only."""
    if outcome.status is SagaStatus.REJECTED:
        count = len(outcome.violations or [])
        return f"The plan was rejected ({count} problem{'s' if count != 1 else ''}); nothing was run."
    parts: list[str] = []
    failed = next((s for s in outcome.steps if s.error is not None and s.state is not StepState.COMPENSATION_FAILED),
                  None)
    if outcome.status is SagaStatus.COMMITTED and failed is None:
        parts.append("All steps were applied and verified.")
    elif outcome.status is SagaStatus.COMMITTED and failed is not None and failed.error is not None:
        # An open saga under the `report` policy commits around a step that failed (and took no effect).
        parts.append(_sentence(f"The saga was committed without step '{failed.id}' ({failed.action}), which "
                               f"failed and took no effect: {failed.error.message}"))
    elif outcome.reason and outcome.status.is_final:
        parts.append(_sentence(outcome.reason[0].upper() + outcome.reason[1:]))
    elif failed is not None and failed.error is not None:
        parts.append(_sentence(f"Step '{failed.id}' ({failed.action}) failed: {failed.error.message}"))
    for step in outcome.steps:
        action = actions.get(step.action)
        result = step.result or {}
        if step.state is StepState.VERIFIED and action is not None:
            parts.append(_sentence(action.describe(result)))
        elif step.state is StepState.COMPENSATED and action is not None:
            undo = action.describe_undo(result) if action.describe_undo and result else step.compensation
            parts.append(_sentence(undo or f"{step.id} was undone"))
        elif step.state is StepState.COMPENSATION_FAILED:
            why = step.error.message if step.error else "unknown error"
            parts.append(_sentence(f"Undoing '{step.id}' ({step.action}) failed and needs an operator: {why}"))
        elif step.state is StepState.NOT_RUN and action is not None:
            parts.append(_sentence(action.not_run))
        elif step.state is StepState.DEFERRED:
            parts.append(f"'{step.id}' ({step.action}) is deferred: it runs only at commit.")
        elif step.state in {StepState.RUNNING, StepState.WAITING_APPROVAL}:
            parts.append(f"'{step.id}' ({step.action}) is {step.state.value.replace('_', ' ')}.")
    if outcome.status is SagaStatus.OPEN:
        parts.append(_open_sentence(outcome))
    elif outcome.status is SagaStatus.NEEDS_ATTENTION:
        parts.append("The saga needs attention from an operator.")
    elif outcome.status is SagaStatus.COMPENSATED:
        parts.append("Every step that had taken effect was undone.")
    return " ".join(parts)
