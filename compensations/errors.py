"""How a provider tells the engine what kind of failure it met.

Providers raise these plain exceptions (they never import Restate); the saga runner maps them
onto Restate's retry machinery: `ProviderUnavailable` is retried inside the journaled step,
`ProviderRejected` is terminal and unwinds at once, `CompensationConflict` stops a compensation
from overwriting somebody else's change.
"""

from typing import Any

from pydantic import BaseModel


class ErrorInfo(BaseModel):
    """A failure as the outcome reports it: a stable code and a sentence for people."""

    code: str
    message: str
    detail: dict[str, Any] | None = None


class ProviderUnavailable(Exception):
    """Transient: the provider could not answer now (connect error, timeout, 5xx, 429, lock).

    `ambiguous` means the request may have reached the provider; the next attempt of the
    step starts with a lookup by key, so a write that landed is found instead of repeated.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None, ambiguous: bool = False):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s
        self.ambiguous = ambiguous


class ProviderRejected(Exception):
    """Terminal: the provider refused the write for a business or validation reason,
    or the read-back did not verify. Retrying cannot help."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.info = ErrorInfo(code=code, message=message, detail=detail)


class CompensationConflict(ProviderRejected):
    """Somebody else changed what the saga wrote; undoing it would clobber their change."""

    def __init__(self, message: str, *, expected: Any, current: Any):
        super().__init__(
            "compensation_conflict", message, {"expected": expected, "current": current}
        )
