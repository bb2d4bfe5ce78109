"""Pivot: safe multi-system writes for AI agents, as sagas on Restate.

What users import, and nothing else is promised:

- `pivot`: `Saga` and `SagaEnded` (library mode: the saga inside your own Restate handler),
  `PivotClient` and its errors (plans and open sagas over Restate's ingress; each carries
  `ErrorBody`, the one error shape every surface answers), `build_catalog`
  and `identity_keys` (to serve your handler beside Pivot's), and the outcome's types;
- `pivot.agents`: `PivotToolset` and `run_agent_saga` (a pydantic-ai agent hosted by Restate);
- `pivot.kit`: the action kit, for adding your own API.

The names load on first use (PEP 562), so `import pivot` and the `pivot` command stay quick and do
not pull in the Restate SDK until something needs it. `pivot.services`, `pivot.compensations` and
`pivot.providers` are the implementation: importable, but not a promise.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pivot.compensations.error_body import ErrorBody
    from pivot.compensations.kinds import SagaStatus, StepKind, StepState
    from pivot.compensations.outcome import Outcome, StepOutcome
    from pivot.compensations.saga import Saga, SagaEnded
    from pivot.services.app import identity_keys
    from pivot.services.catalog import build_catalog
    from pivot.services.client import (
        PivotClient,
        PivotError,
        PlanRejectedError,
        RunConflictError,
        StepConflictError,
        StepRejectedError,
    )

_EXPORTS = {
    "Saga": "pivot.compensations.saga", "SagaEnded": "pivot.compensations.saga",
    "ErrorBody": "pivot.compensations.error_body",
    "PivotClient": "pivot.services.client", "PivotError": "pivot.services.client",
    "PlanRejectedError": "pivot.services.client", "RunConflictError": "pivot.services.client",
    "StepConflictError": "pivot.services.client", "StepRejectedError": "pivot.services.client",
    "build_catalog": "pivot.services.catalog", "identity_keys": "pivot.services.app",
    "Outcome": "pivot.compensations.outcome", "StepOutcome": "pivot.compensations.outcome",
    "SagaStatus": "pivot.compensations.kinds", "StepKind": "pivot.compensations.kinds",
    "StepState": "pivot.compensations.kinds",
}

__all__ = [
    "ErrorBody", "Outcome", "PivotClient", "PivotError", "PlanRejectedError", "RunConflictError", "Saga", "SagaEnded",
    "SagaStatus", "StepConflictError", "StepKind", "StepOutcome", "StepRejectedError", "StepState",
    "build_catalog", "identity_keys",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pivot' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup finds it directly
    return value
