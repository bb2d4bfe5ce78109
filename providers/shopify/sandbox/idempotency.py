"""`@idempotent(key:)`: Shopify's idempotency for a few mutations (refundCreate, inventoryMoveQuantities here).

A key is claimed before the mutation runs, with a fingerprint of the mutation's arguments. A
second request with the key gets, depending on the first: "in progress" while it runs, the
original result (no new effect) once it finished, or a mismatch error when its arguments
differ. Failed attempts are remembered too and replayed as they were. The messages are the
ones Shopify documents for IDEMPOTENCY_CONCURRENT_REQUEST and IDEMPOTENCY_KEY_PARAMETER_MISMATCH;
they arrive as userErrors, whose generic type carries no code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

IDEMPOTENT_FIELDS = frozenset({"refundCreate", "inventoryMoveQuantities"})
"""The mutations the sandbox honours `@idempotent` on (2026-01 takes it on these and a few more)."""
CONCURRENT_MESSAGE = "This request is currently in progress, please try again."
MISMATCH_MESSAGE = "The same idempotency key cannot be used with different operation parameters."

Decision = Literal["fresh", "replay", "mismatch", "concurrent"]


def fingerprint(field_name: str, arguments: dict[str, Any]) -> str:
    return json.dumps([field_name, arguments], sort_keys=True, default=str)


@dataclass
class Outcome:
    """What the first request produced: the refund's (or adjustment group's) number, or its userErrors."""

    refund_id: int | None = None
    group_id: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Record:
    fingerprint: str
    outcome: Outcome | None = None


@dataclass
class Claim:
    key: str
    decision: Decision
    record: Record


class IdempotencyKeys:
    def __init__(self) -> None:
        self._records: dict[str, Record] = {}

    def claim(self, key: str, print_: str) -> Claim:
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = Record(print_)
            return Claim(key, "fresh", record)
        if record.fingerprint != print_:
            return Claim(key, "mismatch", record)
        return Claim(key, "concurrent" if record.outcome is None else "replay", record)

    def finish(self, claim: Claim, outcome: Outcome) -> None:
        claim.record.outcome = outcome

    def release_unfinished(self, claim: Claim) -> None:
        """A fresh claim whose mutation never ran (a bad variable, a crash): forget it."""
        if claim.decision == "fresh" and claim.record.outcome is None:
            self._records.pop(claim.key, None)
