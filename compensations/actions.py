"""The action catalog: what each provider write is, and how it is done and undone.

An `Action` is data plus two coroutines supplied by a provider module. The engine reads the
data to validate plans (kind, pivot eligibility, params model) and calls the coroutines
inside journaled steps. The catalog is the per-integration map that `pivot actions` prints.
"""

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind

JsonDict = dict[str, Any]
"""A verified result: JSON-safe, always with a `ref` such as "stripe:invoice/in_123"."""

ForwardFn = Callable[[Any, StepKeys], Awaitable[JsonDict]]
"""(params model instance, keys) -> verified result. Looks up by key, writes if absent, reads back."""

CompensateFn = Callable[[Any, StepKeys, JsonDict | None], Awaitable["CompensationReport"]]
"""(params, keys, verified result or None if the forward answer was lost) -> what was undone."""

Describe = Callable[[JsonDict], str]


class CompensationReport(BaseModel):
    """What a compensation found and did; journaled, so it must stay JSON-safe."""

    state: Literal["compensated", "nothing_to_undo"]
    detail: str


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """How long a journaled step keeps retrying transient failures before it is terminal.

    A forward write uses `max_attempts` (counted in process, a few seconds in all); a
    compensation must not give up early, so it uses `max_duration` (days) through Restate.
    """

    max_attempts: int | None = 5
    max_duration: timedelta | None = None
    initial_interval: timedelta = timedelta(milliseconds=200)
    max_interval: timedelta = timedelta(seconds=5)


DEFAULT_FORWARD_BUDGET = RetryBudget()
DEFAULT_COMPENSATION_BUDGET = RetryBudget(
    max_attempts=None, max_duration=timedelta(days=3), max_interval=timedelta(minutes=5)
)


@dataclass(frozen=True, slots=True)
class Action:
    """One write a saga step may perform, as the catalog declares it."""

    name: str
    """Qualified name, "provider.verb_object"."""
    kind: StepKind
    params: type[BaseModel]
    forward: ForwardFn
    key_carrier: str
    """How the idempotency key reaches the provider (header, unique property, metadata…)."""
    readback: str
    """What is fetched after the write and which fields are verified."""
    describe: Describe
    """Past-tense sentence about a verified result, for the outcome summary."""
    not_run: str
    """Sentence for the summary when the step never ran ("No Slack message was sent.")."""
    compensate: CompensateFn | None = None
    compensation: str = "none"
    """The semantic undo in words (or why there is none)."""
    pivot_eligible: bool = False
    undo_scope: Literal["full", "partial"] = "full"
    idempotency: str = "lookup"
    """What makes a repeated write safe at the provider itself (see `pivot.compensations.kit.Idempotency`)."""
    """`partial`: the undo reverses only what the provider holds (`compensation` says what is left)."""
    retry: RetryBudget = DEFAULT_FORWARD_BUDGET
    compensation_retry: RetryBudget = DEFAULT_COMPENSATION_BUDGET
    atomicity: str = "single write"
    in_flight_window: timedelta = timedelta(seconds=30)
    """How long a request already sent may still land at the provider (its client timeout)."""
    fenced: bool = False
    """The provider has no idempotency key (Slack): its lookup cannot see a write that is still
    in flight. A retry after a crash, or after an ambiguous failure, first waits out the
    in-flight window of the earlier attempt, then looks up. Costs one journal entry per step."""
    describe_undo: Describe | None = None
    lookup_before_write: bool = False
    """The forward write starts with a lookup by key (the provider has no idempotency header). On a
    write the engine proves to be a first attempt, the provider skips it (`first_write()`); to prove
    it for a saga's first write, the engine journals a fence before it."""
    kit: Any = None
    """The `compensations.kit.KeyedAction` it was built from, if any: `pivot conformance` judges a
    step with the action's own lookup."""

    @property
    def provider(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def late_twin_risk(self) -> bool:
        """Whether a copy of this write that an earlier attempt sent, landing late, could take
        effect again after the step was undone: an archive frees a unique key for a new object, a
        restored value is overwritten by the late update. A provider that deduplicates by the key
        replays its stored answer instead; a write committed in one transaction with its key row
        (which its undo keeps) is refused by that row; a fenced action already waits for the copy
        to land before it writes."""
        return self.idempotency not in ("key", "transaction") and not self.fenced

    def __post_init__(self) -> None:
        if self.kind is StepKind.PIVOT:
            raise ValueError(f"{self.name}: 'pivot' is a role in a plan, not an action kind")
        if self.kind is StepKind.COMPENSABLE and self.compensate is None:
            raise ValueError(f"{self.name}: a compensable action needs a compensation")


@dataclass(frozen=True)
class Catalog(Mapping[str, Action]):
    """The actions a plan may use, by name, the named connections (accounts) of each provider
    besides its default one, and the approvers this deployment can authenticate. Immutable once built."""

    actions: Mapping[str, Action] = field(default_factory=dict)
    connections: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """provider → the names of its other configured connections (never their credentials)."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """action → where it came from (`built-in`, an installed package's entry point, a plugin module)."""
    approvers: frozenset[str] | None = None
    """The approver names the service can authenticate (never their tokens). A gate naming anyone
    else could never be decided and would park its saga until the deadline, so it is refused before
    anything runs. None where they are not known (an offline check): gates are then not checked."""

    @classmethod
    def of(cls, actions: Iterable[Action], connections: Mapping[str, frozenset[str]] | None = None,
           sources: Mapping[str, str] | None = None, approvers: Iterable[str] | None = None) -> "Catalog":
        table: dict[str, Action] = {}
        for action in actions:
            if action.name in table:
                raise ValueError(f"duplicate action {action.name}")
            table[action.name] = action
        return cls(table, dict(connections or {}), dict(sources or {}),
                   None if approvers is None else frozenset(approvers))

    def knows_connection(self, provider: str, name: str) -> bool:
        return name == "default" or name in self.connections.get(provider, frozenset())

    def unknown_approvers(self, names: Iterable[str]) -> list[str]:
        """The names among `names` that no configured approver has (none when approvers are not known)."""
        if self.approvers is None:
            return []
        return [name for name in names if name not in self.approvers]

    def __getitem__(self, name: str) -> Action:
        return self.actions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)
