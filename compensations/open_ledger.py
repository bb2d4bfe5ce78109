"""An open saga's bookkeeping: a step's result comes back, a timer fires, an abort is asked for.

The open saga's engine (one long-lived invocation) holds the record; a gated step runs in an
invocation of its own and reports back. These pure functions decide what the engine does with
each event, and what the agent-facing handlers can answer from the published record alone, so
they read like the in-memory `Saga` and can be tested without a server.
"""

from dataclasses import dataclass
from typing import Literal

from pivot.compensations.admission import StepRefused
from pivot.compensations.durations import short_duration
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.protocol import iso
from pivot.compensations.record import SagaRecord, StepRecord

SETTLED_FIELDS = ("state", "ref", "result", "error", "compensation", "decision", "approval", "registered")


def absorb(step: StepRecord, incoming: StepRecord) -> None:
    for name in SETTLED_FIELDS:
        setattr(step, name, getattr(incoming, name))


def settle(record: SagaRecord, incoming: StepRecord) -> bool:
    """Record a step's final state. True when the saga must now end: the step failed and either
    the policy is `unwind`, the saga is past its point of no return, or the failed step's own undo
    failed. A step that settled already (a resent report) changes nothing."""
    step = record.step(incoming.id)
    if step is None or not step.in_flight:
        return False
    absorb(step, incoming)
    if step.state is StepState.VERIFIED:
        if step.kind is StepKind.PIVOT and not record.crossed:
            record.cross()
        return False
    if step.error is None or not record.is_open:
        return False
    if record.crossed or record.on_failure == "unwind" or step.state is StepState.COMPENSATION_FAILED:
        record.status = SagaStatus.RUNNING
        record.drop_pending()
        return True
    return False


def progress(record: SagaRecord, incoming: StepRecord) -> None:
    """A step in flight shows where it is (waiting for approval, decided)."""
    step = record.step(incoming.id)
    if step is not None and step.in_flight:
        absorb(step, incoming)
        if step.state is StepState.PENDING:  # the gate decided; the write comes next
            step.state = StepState.RUNNING


Expiry = Literal["idle", "deadline"]


@dataclass(frozen=True)
class TimerCheck:
    expired: Expiry | None
    next_at: float | None
    """When to look again (None: the saga is closed, no timer is needed)."""


def check_timers(record: SagaRecord, now: float) -> TimerCheck:
    """Is the saga abandoned? Idle time counts only while nothing is in flight: a step parked on
    a three-day approval is not an idle agent. The deadline holds regardless."""
    if not record.is_open or record.deadline_at is None or record.idle_timeout_s is None:
        return TimerCheck(None, None)
    if now >= record.deadline_at:
        return TimerCheck("deadline", None)
    last = next((t for t in (record.last_call_at, record.opened_at) if t is not None), now)
    idle_at = last + record.idle_timeout_s
    if record.in_flight():
        idle_at = now + record.idle_timeout_s
    elif now >= idle_at:
        return TimerCheck("idle", None)
    return TimerCheck(None, min(idle_at, record.deadline_at))


def expiry_reason(record: SagaRecord, expired: Expiry) -> str:
    if expired == "deadline":
        return f"the saga reached its deadline ({iso(record.deadline_at or 0)}) while still open"
    return (f"the agent made no call for {short_duration(record.idle_timeout_s or 0)} (idle timeout), so the "
            "saga closed by itself")


def finishing(record: SagaRecord) -> bool:
    """The saga is being committed or unwound: it takes no more steps, its end is not known yet."""
    return record.ending is not None and not record.status.is_final


def refuse_abort(record: SagaRecord) -> None:
    """An abort that cannot undo the saga is refused (409), whoever asks and whenever: the saga is
    committed or being committed, or it is past its point of no return."""
    if record.status is SagaStatus.COMMITTED or record.ending == "commit":
        done = "was committed" if record.status is SagaStatus.COMMITTED else "is being committed"
        raise StepRefused(409, "saga_committed", f"saga {record.run_id} {done}: abort cannot undo a committed "
                          "saga. Nothing changed.")
    if record.crossed:
        rest = "it can only be committed" if record.is_open else f"it is {record.status.value}"
        raise StepRefused(409, "past_pivot", f"saga {record.run_id} is past its point of no return; {rest} "
                          "(nothing was undone)")
