"""The action kit: how an API joins Pivot's catalog with Pivot's guarantees.

Write an action as a `KeyedAction`: what it is (name, kind, params model, where the step's key
travels — `KeyCarrier` —, what is read back, what undo means) and how it is done, in small pieces
the kit composes into the step protocol: `lookup` by the step's key (it resolves an ambiguous write
and backs the read-back), `write` carrying the key, `verify` the read-back against the params
(`Mismatch` otherwise), and, for a compensable action, `undo` from the verified result — only what
is still the saga's doing, else `CompensationConflict`. Raise `ProviderUnavailable` for what may
pass (retried inside the step with the same key; `ambiguous=True` when the request may have reached
the provider; `retry_after_s` honoured) and `ProviderRejected` for what will not. `pivot conformance`
proves an action keeps the guarantees, judging with its own lookup.

`Action` is what the engine runs (`KeyedAction.action()` builds one). Give Pivot your actions with
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
from pivot.compensations.kit import AlreadyWritten, KeyCarrier, KeyedAction, Mismatch

__all__ = [
    "Action",
    "AlreadyWritten",
    "CompensateFn",
    "CompensationConflict",
    "CompensationReport",
    "ErrorInfo",
    "ForwardFn",
    "JsonDict",
    "KeyCarrier",
    "KeyedAction",
    "Mismatch",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetryBudget",
    "StepKeys",
    "StepKind",
    "first_write",
]
