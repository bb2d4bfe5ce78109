"""What every provider sandbox shares: fault rules, the effect ledger and the `/_sandbox/*` routes.

A sandbox is a test instrument as much as a fake: tests inject failures (errors, rate limits,
latency, "committed but the answer was lost") and then read the ledger to prove that each
effect happened exactly once. Keeping these pieces here keeps the three providers identical.
"""

from pivot.providers.sandbox_kit.app import (
    FaultMiddleware,
    FaultResponder,
    ResponseHeadersMiddleware,
    apply_pending_latency,
    build_sandbox_app,
    format_retry_after,
    read_json_object,
)
from pivot.providers.sandbox_kit.faults import FaultBook, FaultRule, FaultSpec
from pivot.providers.sandbox_kit.ledger import Effect, Ledger

__all__ = [
    "Effect",
    "FaultBook",
    "FaultMiddleware",
    "FaultResponder",
    "FaultRule",
    "FaultSpec",
    "Ledger",
    "ResponseHeadersMiddleware",
    "apply_pending_latency",
    "build_sandbox_app",
    "format_retry_after",
    "read_json_object",
]
