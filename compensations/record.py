"""The saga record: what the engine knows about one saga, whichever driver runs it.

A plan (`SagaRun`), an open saga (`Saga`) and a user's own Restate handler all drive the same
steps through the same states. The record is the public `Outcome` plus what the engine needs
to run, replay and undo a step: its params as asked, whether it was asked as the pivot, its
approval gate, whether its compensation is registered. A plan keeps its record in memory
(replay rebuilds it); an open saga spans many invocations, so it keeps it in Restate state.
"""

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from pivot.compensations.actions import Action, JsonDict
from pivot.compensations.connections import DEFAULT_CONNECTION
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.outcome import Outcome, StepOutcome, summarize
from pivot.compensations.plan import Approval, StepSpec

OnFailure = Literal["unwind", "report"]
Ending = Literal["commit", "abort", "fail"]
NOT_SENT = "not sent: the saga unwound before commit"

IN_FLIGHT = frozenset({StepState.RUNNING, StepState.WAITING_APPROVAL})
ENGINE_FIELDS = frozenset({"params", "pivot", "gate", "group", "not_before", "request", "registered", "invocation",
                           "settle_until"})
"""StepRecord fields that are the engine's, not the outcome's."""
SAGA_FIELDS = frozenset({"crossed", "finisher", "ending", "opened_at", "last_call_at", "idle_timeout_s",
                         "deadline_at", "timer_at", "bell"})
_ENGINE_ONLY: dict[str, Any] = {"steps": {"__all__": set(ENGINE_FIELDS)}, **dict.fromkeys(SAGA_FIELDS, True)}


def public_of(stored: JsonDict) -> JsonDict:
    """The outcome contract from a record's stored JSON (`model_dump(mode="json", exclude_none=True)`),
    without dumping the record again: the same as `SagaRecord.stored_public_json()`."""
    public = {name: value for name, value in stored.items() if name not in SAGA_FIELDS}
    public["steps"] = [{name: value for name, value in step.items() if name not in ENGINE_FIELDS}
                       for step in stored.get("steps", [])]
    return public


def request_digest(spec: StepSpec) -> str:
    """What identifies a step request beyond its id: the action, the params, the pivot mark and the gate.
    A second call with the same id and the same digest is a replay; any other digest is a conflict."""
    canonical = json.dumps(
        {"action": spec.action, "params": spec.params, "pivot": spec.pivot, "connection": spec.connection,
         "approval": spec.approval.model_dump(mode="json") if spec.approval else None},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class StepRecord(StepOutcome):
    """One step: its public outcome plus the engine's own fields (never shown to agents)."""

    params: dict[str, Any] = Field(default_factory=dict, description="As asked; may hold $from references")
    pivot: bool = False
    gate: Approval | None = None
    group: str | None = None
    not_before: datetime | None = None
    request: str | None = None
    registered: bool = False
    """Its compensation is on the stack: it is undone if the saga unwinds."""
    invocation: str | None = None
    """Open sagas: the Restate invocation that runs this step (to attach to, or cancel)."""
    settle_until: float | None = None
    """Epoch seconds before which a copy of the write that an earlier attempt sent may still land:
    the undo waits until then (`attempts.SETTLE_FIELD`)."""

    @classmethod
    def of(cls, spec: StepSpec, kind: StepKind, key: str) -> "StepRecord":
        return cls(id=spec.id, action=spec.action, kind=kind, key=key, params=spec.params, pivot=spec.pivot,
                   gate=spec.approval, group=spec.group, not_before=spec.not_before, request=request_digest(spec),
                   connection=None if spec.connection == DEFAULT_CONNECTION else spec.connection)

    def spec(self) -> StepSpec:
        return StepSpec(id=self.id, action=self.action, params=self.params, pivot=self.pivot, approval=self.gate,
                        group=self.group, not_before=self.not_before, connection=self.connection_name)

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT

    @property
    def connection_name(self) -> str:
        return self.connection or DEFAULT_CONNECTION


class SagaRecord(Outcome):
    """The whole saga as the engine tracks it. `public()` is what agents and operators see."""

    steps: list[StepRecord] = Field(default_factory=list)  # type: ignore[assignment]
    crossed: bool = False
    """The point of no return is behind: nothing is unwound any more."""
    finisher: str | None = None
    """Open sagas: the invocation that commits or unwinds it."""
    ending: Ending | None = None
    """Open sagas: what the finisher does (an abort during a commit is refused, not attached to it)."""
    opened_at: float | None = None
    last_call_at: float | None = None
    idle_timeout_s: float | None = None
    deadline_at: float | None = None
    timer_at: float | None = None
    """Open sagas: when the pending timeout check fires (one at a time, re-armed lazily)."""
    bell: int | None = None
    """Open sagas: the next call slot the engine reads (a hint for callers; see services' open_saga_waits)."""

    def step(self, step_id: str) -> StepRecord | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def results(self) -> dict[str, JsonDict]:
        """Verified results by step id: what `$from` references read (a result stays once verified,
        also after its step is undone, so an undo can still resolve its params)."""
        return {s.id: s.result for s in self.steps if s.result is not None}

    def stack(self) -> list[StepRecord]:
        """Steps whose compensation is registered, in the order they were registered."""
        return [s for s in self.steps if s.registered]

    def in_flight(self) -> list[StepRecord]:
        return [s for s in self.steps if s.in_flight]

    def deferred(self) -> list[StepRecord]:
        """Deferred steps in the order they run at commit: retryable ones, then noncompensable ones
        (the plan rule: noncompensable steps come last), each kind in the order asked."""
        waiting = [s for s in self.steps if s.state is StepState.DEFERRED]
        return sorted(waiting, key=lambda s: s.kind is StepKind.NONCOMPENSABLE)

    def public_json(self, catalog: Mapping[str, Action]) -> JsonDict:
        """The outcome contract as JSON, with the summary said from verified facts."""
        self.summary = summarize(self, catalog)
        return self.stored_public_json()

    def stored_public_json(self) -> JsonDict:
        """The outcome contract as JSON, with the summary as it was last said."""
        return self.model_dump(mode="json", exclude_none=True, exclude=_ENGINE_ONLY)

    def public(self, catalog: Mapping[str, Action]) -> Outcome:
        return Outcome.model_validate(self.public_json(catalog))

    @property
    def is_open(self) -> bool:
        return self.status is SagaStatus.OPEN

    def cross(self) -> None:
        """The point of no return: from here the saga only moves forward. With no explicit pivot,
        the last compensable step that verified is the implied one."""
        if not any(s.kind is StepKind.PIVOT and s.state is StepState.VERIFIED for s in self.steps):
            last = next((s for s in reversed(self.steps) if s.registered and s.state is StepState.VERIFIED), None)
            if last is not None:
                last.kind = StepKind.PIVOT
        for step in self.steps:
            step.registered = False
        self.crossed = True

    def drop_pending(self) -> None:
        """The saga closes: what never started never will; deferred steps are dropped unsent."""
        for step in self.steps:
            if step.state is StepState.DEFERRED:
                step.state, step.note = StepState.NOT_RUN, NOT_SENT
            elif step.state is StepState.PENDING:
                step.state = StepState.NOT_RUN
