"""The vocabulary of the saga model: what a step is, what state it is in, how a saga ended."""

from enum import StrEnum


class StepKind(StrEnum):
    """Where a step may sit in a saga, decided by the action catalog, never by the agent."""

    COMPENSABLE = "compensable"
    """Can be semantically undone; runs before the pivot."""
    PIVOT = "pivot"
    """The point of no return; once it succeeds the saga only moves forward."""
    RETRYABLE = "retryable"
    """Idempotent and retried until it succeeds; runs after the pivot."""
    NONCOMPENSABLE = "noncompensable"
    """Cannot be undone (a chat message, an email); runs after the pivot, last."""


class StepState(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"
    """Open sagas: accepted before the point of no return, runs at commit (dropped unsent if the
    saga unwinds)."""
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    VERIFIED = "verified"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    NOTHING_TO_UNDO = "nothing_to_undo"
    COMPENSATION_FAILED = "compensation_failed"
    NOT_RUN = "not_run"


class SagaStatus(StrEnum):
    OPEN = "open"
    """An open saga accepting steps (until commit, abort or its timeout)."""
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    COMMITTED = "committed"
    COMPENSATED = "compensated"
    NEEDS_ATTENTION = "needs_attention"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"
    """Only from `status` for a run id that was never submitted."""

    @property
    def is_final(self) -> bool:
        return self in {
            SagaStatus.COMMITTED,
            SagaStatus.COMPENSATED,
            SagaStatus.NEEDS_ATTENTION,
            SagaStatus.REJECTED,
        }
