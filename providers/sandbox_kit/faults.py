"""Fault rules: which request to sabotage, how, and how many times.

A rule is data a test posts to `/_sandbox/faults`. Rules are checked in creation order and the
first rule that matches and still has shots left fires, so a test can stack "fail twice, then
add latency" deterministically. State lives in a `FaultBook` owned by one app instance.

A rule may also name a GraphQL `operation` (the first root field of the request's document): every
GraphQL request shares one path, so that is how a rule holds `fulfillmentCreate` and not its
read-back. A rule without one matches on method and path alone, as before.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FaultAction = Literal["error", "commit_then_timeout", "rate_limit", "latency"]


class FaultSpec(BaseModel):
    """What a test asks for: the body of `POST /_sandbox/faults`.

    `times` null means every matching request, for as long as the rule exists; that is also the
    default, so a forgotten `times` fails loudly instead of silently firing once.
    """

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path: str = Field(default="*", min_length=1, max_length=500)
    operation: str | None = Field(default=None, min_length=1, max_length=200,
                                  description="GraphQL only: the first root field of the document")
    action: FaultAction
    times: int | None = Field(default=None, ge=1)
    status: int = Field(default=500, ge=400, le=599)
    body: dict[str, Any] | None = None
    retry_after: float | None = Field(default=None, ge=0, le=3600)
    latency_ms: int | None = Field(default=None, ge=0, le=600_000)
    hang_s: float = Field(default=30.0, ge=0, le=3600)
    probability: float = Field(default=1.0, gt=0, le=1, description="Fire on this share of matching requests")
    seed: int | None = Field(default=None, description="Seed of the rule's own random draws (reproducible soaks)")

    @field_validator("method")
    @classmethod
    def _upper_method(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @model_validator(mode="after")
    def _latency_needs_duration(self) -> FaultSpec:
        if self.action == "latency" and self.latency_ms is None:
            raise ValueError("a latency rule needs latency_ms")
        return self


@dataclass
class FaultRule:
    """A stored rule with its bookkeeping: `remaining` shots (None: unlimited) and `hits` so far."""

    id: str
    spec: FaultSpec
    remaining: int | None
    hits: int = 0
    draws: random.Random = field(default_factory=random.Random, repr=False)
    held: int = 0
    """Requests this (latency) rule is holding right now: a test waits for 0 before it reads
    the ledger, so a write that lands after a crash is never missed."""

    def matches(self, method: str, path: str, operation: str | None = None) -> bool:
        if self.spec.operation is not None and self.spec.operation != operation:
            return False
        return self.matches_route(method, path)

    def matches_route(self, method: str, path: str) -> bool:
        """Method and path match, whatever the operation (which needs the body to tell)."""
        if self.spec.method is not None and self.spec.method != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.spec.path)

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(), "remaining": self.remaining, "hits": self.hits,
                "held": self.held}


class FaultBook:
    """The rules of one sandbox instance, in creation order."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: FaultSpec) -> FaultRule:
        rule = FaultRule(id=f"flt_{self._next_id}", spec=spec, remaining=spec.times,
                         draws=random.Random(spec.seed))
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [rule for rule in self._rules if rule.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        """Drop every rule; ids keep counting so an old id never names a new rule."""
        self._rules.clear()

    def reset(self) -> None:
        """Back to a fresh book (sandbox reset): no rules, ids from flt_1 again."""
        self._rules.clear()
        self._next_id = 1

    def wants_operation(self, method: str, path: str) -> bool:
        """Whether a live rule for this route names a GraphQL operation: only then is the body read
        before the request runs (so every other request streams through untouched)."""
        return any(rule.spec.operation is not None and not rule.exhausted and rule.matches_route(method, path)
                   for rule in self._rules)

    def take(self, method: str, path: str, operation: str | None = None) -> FaultRule | None:
        """The first live rule matching this request, with one shot consumed.

        Synchronous on purpose: no await between matching and decrementing, so two concurrent
        requests can never both take a rule's last shot.
        """
        for rule in self._rules:
            if rule.exhausted or not rule.matches(method, path, operation):
                continue
            if rule.spec.probability < 1.0 and rule.draws.random() >= rule.spec.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            rule.hits += 1
            return rule
        return None
