"""The effect ledger: every write a sandbox actually applied, in order.

Tests prove exactly-once behaviour by counting effects per idempotency key, so the ledger must
record applied effects only: never a replayed response, a rejected or faulted request, or a read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Effect:
    """One applied write. `id` is the provider's id of the object written (a Slack message's ts)."""

    seq: int
    at: str
    op: str
    object: str
    id: str
    idempotency_key: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "op": self.op,
            "object": self.object,
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "detail": dict(self.detail),
        }


class Ledger:
    """Append-only list of effects for one sandbox instance.

    `clear()` empties the list but keeps `seq` counting, so effects from before and after a clear
    can never be confused; `reset()` (sandbox reset) starts over at 1.
    """

    def __init__(self) -> None:
        self._effects: list[Effect] = []
        self._next_seq = 1

    def record(
        self,
        op: str,
        obj: str,
        obj_id: str,
        idempotency_key: str | None,
        detail: dict[str, Any] | None = None,
    ) -> Effect:
        effect = Effect(
            seq=self._next_seq,
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            op=op,
            object=obj,
            id=obj_id,
            idempotency_key=idempotency_key,
            detail=dict(detail or {}),
        )
        self._next_seq += 1
        self._effects.append(effect)
        return effect

    def effects(
        self, *, key: str | None = None, op: str | None = None, obj: str | None = None
    ) -> list[Effect]:
        return [
            effect
            for effect in self._effects
            if (key is None or effect.idempotency_key == key)
            and (op is None or effect.op == op)
            and (obj is None or effect.object == obj)
        ]

    def clear(self) -> None:
        self._effects.clear()

    def reset(self) -> None:
        self._effects.clear()
        self._next_seq = 1
