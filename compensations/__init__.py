"""The saga engine: step kinds, plans and their validation, structural keys, the compensation stack.

Nothing in this package knows about a particular provider: actions arrive through a `Catalog`
that services/ builds from providers/. Only `saga.py` talks to Restate.
"""

from pivot.compensations.actions import Action, Catalog, CompensationReport, RetryBudget
from pivot.compensations.errors import (
    CompensationConflict,
    ErrorInfo,
    ProviderRejected,
    ProviderUnavailable,
)
from pivot.compensations.keys import StepKeys, compensation_key, forward_key
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.outcome import Outcome, StepOutcome
from pivot.compensations.plan import Plan, StepSpec
from pivot.compensations.validation import PlanRejected, ValidatedPlan, Violation, validate_plan

__all__ = [
    "Action",
    "Catalog",
    "CompensationConflict",
    "CompensationReport",
    "ErrorInfo",
    "Outcome",
    "Plan",
    "PlanRejected",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetryBudget",
    "SagaStatus",
    "StepKeys",
    "StepKind",
    "StepOutcome",
    "StepSpec",
    "StepState",
    "ValidatedPlan",
    "Violation",
    "compensation_key",
    "forward_key",
    "validate_plan",
]
