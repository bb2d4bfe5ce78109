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

`ProviderHTTP` (with an `Endpoint`: base URL from `PIVOT_<PROVIDER>_BASE_URL`, the credential read
from its variable per request, never stored) is the HTTP layer the built-in providers use: it raises
`ProviderUnavailable` for connect errors, timeouts (ambiguous), 5xx and 429 with their Retry-After.

`Action` is what the engine runs (`KeyedAction.action()` builds one). A package gives Pivot its
actions through the `pivot.actions` entry-point group (a function returning a list of actions);
`PIVOT_CATALOG_PLUGINS="module:function"` does the same without packaging. `examples/inventory`
is a complete small package.
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
from pivot.providers.http import Endpoint, ProviderHTTP, json_body

__all__ = [
    "Action",
    "AlreadyWritten",
    "CompensateFn",
    "CompensationConflict",
    "CompensationReport",
    "Endpoint",
    "ErrorInfo",
    "ForwardFn",
    "JsonDict",
    "KeyCarrier",
    "KeyedAction",
    "Mismatch",
    "ProviderHTTP",
    "ProviderRejected",
    "ProviderUnavailable",
    "RetryBudget",
    "StepKeys",
    "StepKind",
    "first_write",
    "json_body",
]
