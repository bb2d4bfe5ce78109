"""The action kit: how an API joins Pivot's catalog.

An action is data (its name, kind, params model, key carrier, read-back, undo) and two coroutines:
the forward write — look the effect up by the step's key, write if absent, read it back, verify —
and the compensation. Raise `ProviderUnavailable` for what may pass (retried inside the step, the
key kept; `ambiguous=True` when the request may have reached the provider), `ProviderRejected`
for what will not (terminal: the saga unwinds), `CompensationConflict` when undoing would
overwrite somebody else's change. Give Pivot your actions with
`PIVOT_CATALOG_PLUGINS="module:function"` (a function returning a list of `Action`).
"""

from pivot.compensations.actions import (
    Action,
    CompensateFn,
    CompensationReport,
    ForwardFn,
    JsonDict,
    RetryBudget,
)
from pivot.compensations.connections import first_write
from pivot.compensations.errors import CompensationConflict, ErrorInfo, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind

__all__ = [
    "Action",
    "CompensateFn",
    "CompensationConflict",
    "CompensationReport",
    "ErrorInfo",
    "ForwardFn",
    "JsonDict",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetryBudget",
    "StepKeys",
    "StepKind",
    "first_write",
]
