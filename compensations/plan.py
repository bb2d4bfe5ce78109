"""The plan an agent submits: pydantic models with explicit, documented bounds.

Shape only: whether the steps make a safe saga is `validation.py`'s job, because that needs
the catalog.
"""

from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pivot.compensations.approvals import DEFAULT_CHANNELS, Channel
from pivot.compensations.connections import CONNECTION_PATTERN, DEFAULT_CONNECTION
from pivot.compensations.ids import STEP_ID_PATTERN

MAX_STEPS = 50
"""Steps per plan. A saga longer than this is a workflow that should be split."""
MAX_PLAN_BYTES = 256 * 1024
"""Whole plan, as JSON."""
MAX_PARAMS_BYTES = 32 * 1024
"""One step's params, as JSON."""
MAX_STRING_CHARS = 10_000
"""Any single string inside params."""
MAX_DEPTH = 8
"""Nesting of objects and lists inside params."""
MAX_APPROVAL_WAIT = timedelta(days=30)

ACTION_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$"


class Approval(BaseModel):
    """A human gate in front of a step: the saga parks until a listed approver decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: list[str] = Field(min_length=1, max_length=20)
    timeout: timedelta = Field(default=timedelta(days=3), description="ISO-8601 duration, e.g. P3D")
    reason: str = Field(default="", max_length=500)
    channels: list[Channel] = Field(
        default_factory=lambda: list(DEFAULT_CHANNELS), min_length=1, max_length=5,
        description="Where it may be decided: page, cli, slack, email; chat = the agent's own user (sole approver)")
    requested_by: str = Field(default="", max_length=200, description="Who asked, as the approver will read it")


class StepSpec(BaseModel):
    """One step as the agent wrote it. Its kind comes from the catalog, not from here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=STEP_ID_PATTERN, description="Unique within the plan; part of the idempotency key")
    action: str = Field(
        pattern=ACTION_PATTERN, max_length=80, description="A catalog action, e.g. stripe.create_invoice"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    pivot: bool = Field(default=False, description="Marks the point of no return (at most one step)")
    connection: str = Field(default=DEFAULT_CONNECTION, pattern=CONNECTION_PATTERN,
                            description="Which account of the provider to write to (a configured connection)")
    group: str | None = Field(
        default=None, pattern=STEP_ID_PATTERN, description="Adjacent compensable steps that may run in parallel"
    )
    approval: Approval | None = None
    not_before: AwareDatetime | None = Field(
        default=None, description="A scheduled write: the saga sleeps durably until this time"
    )
    repeat: bool = Field(
        default=False, description="This step repeats an identical earlier step on purpose (two equal refunds): "
                                   "without it, a step equal to an earlier one is refused as a duplicate"
    )


class Plan(BaseModel):
    """A multi-step write: all of it happens, or everything that happened is undone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)
