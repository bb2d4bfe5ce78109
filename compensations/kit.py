"""The action kit: one way to write an action, so that every action keeps Pivot's guarantees.

An action is one write to some API that a saga step performs, and its undo. The engine gives each
step a structural key (`pv1_…`: a hash of run, step and action, never of anything a model wrote)
and journals the step's write. What only the action's author knows is how the API carries that key
and how to find, by it, what a step wrote. So the author writes small named pieces, and the kit
composes them into the step protocol, the same for every action:

forward (inside the step's one journaled write)::

    found = lookup(params, key)           # skipped when the engine proves no earlier attempt sent it
    obj   = complete(params, key, found)  # an earlier attempt got this far: finish its write
            or write(params, key)         # nothing found: write, carrying the key (`carrier`)
    fresh = read_back(params, key, obj)   # what the provider holds now (by default: lookup again)
    return verify(params, fresh)          # the verified result, JSON-safe with a `ref`, or Mismatch

compensation (inside the step's journaled undo, which may be delivered more than once)::

    found = recall(params, key, result)   # the effect: by the forward key (`lookup`), or by the id
                                          # the verified result names
    None             -> not_found(params, result, compensation key)
                        # by default nothing to undo: the write never landed
    is_undone(found) -> compensated       # an earlier delivery undid it: one undo, never two
    otherwise        -> undo(params, found, result, compensation key)
                        undoing only what is still the saga's doing, else CompensationConflict

What is raised says what kind of failure it is: `ProviderUnavailable` may pass (retried inside the
same journaled step with the same key; `ambiguous=True` when the request may have reached the
provider, so the next attempt starts with `lookup`; `retry_after_s` is honoured); `ProviderRejected`
will not (terminal: before the pivot the saga unwinds); `CompensationConflict` stops an undo from
overwriting somebody else's change; `AlreadyWritten` from `write` says the provider refused a
second object with this key (a concurrent attempt of the same step won), and the kit looks it up.
Pivot's shared HTTP layer (`pivot.providers.http.ProviderHTTP`) raises the first two for you from
status codes, Retry-After and transport errors.

`pivot conformance` runs an action through the real engine with faults between the service and the
API, and judges what happened with the action's own `lookup` (and `find_all`, `tamper` where the
action offers them): the same pieces, so a lookup that ignores the key, an undo that is not
idempotent or a read-back that never compares fails the case that names it.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from pivot.compensations.actions import (
    DEFAULT_COMPENSATION_BUDGET,
    DEFAULT_FORWARD_BUDGET,
    Action,
    CompensationReport,
    JsonDict,
    RetryBudget,
)
from pivot.compensations.connections import first_write
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind

Params = TypeVar("Params", bound=BaseModel)
Found = TypeVar("Found")
"""What the provider's API returns for the object a step writes (usually its JSON, a dict)."""

Where = Literal["header", "form", "json", "query", "path", "stored"]


Idempotency = Literal["key", "unique", "natural", "transaction", "lookup"]
"""How a provider keeps a repeated write from taking effect twice, by itself: `key` it deduplicates
requests by an idempotency key (Stripe's and Resend's header, Shopify's `@idempotent`); `unique` a
unique field holding the step key refuses a second object (HubSpot's unique property, Salesforce's
external id); `natural` the write means the same done twice (an upsert, setting a value, a one-way
cancel); `transaction` the write and its key commit in one database transaction; `lookup` none of
these: only Pivot's lookup by the step key before each retry keeps it to one (Slack)."""


@dataclass(frozen=True, slots=True)
class KeyCarrier:
    """Where a step's key travels to the provider, declared as data so that `pivot conformance` can
    check that it does (the key must round-trip: sent with the write, found again by `lookup`).

    `where` is the part of the write request that carries it (`stored` for a carrier no HTTP
    request shows, such as a database row), `name` the header, form field (`metadata[pivot_key]`),
    JSON path (`properties.pivot_key`), query or path parameter; `description` says it to people."""

    where: Where
    name: str
    description: str

    @classmethod
    def header(cls, name: str, description: str = "") -> "KeyCarrier":
        return cls("header", name, description or f"the {name} header")

    @classmethod
    def form(cls, name: str, description: str = "") -> "KeyCarrier":
        return cls("form", name, description or f"form field {name}")

    @classmethod
    def json(cls, path: str, description: str = "") -> "KeyCarrier":
        return cls("json", path, description or f"JSON field {path}")

    @classmethod
    def stored(cls, name: str, description: str) -> "KeyCarrier":
        return cls("stored", name, description)


class Mismatch(Exception):
    """The read-back does not show what the step promised: the step fails, never `verified`."""

    def __init__(self, message: str, *, expected: Any, actual: Any):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


class AlreadyWritten(Exception):
    """`write` was refused because an object carrying this key exists: a concurrent attempt of the
    same step won the race. The kit looks it up; if it cannot find it, the write is refused with
    `code` and `detail` (a unique value somebody else's object holds: `contact_exists`)."""

    def __init__(self, message: str = "", *, code: str = "already_exists", detail: JsonDict | None = None):
        super().__init__(message)
        self.code = code
        self.detail = detail


class KeyedAction(ABC, Generic[Params, Found]):
    """One catalog action, written as the kit's pieces. Subclass it, fill in what the action is
    (the class attributes) and how it is done (the methods), and give the catalog `action()`.

    The methods run inside the step's journaled write or undo, so they must not touch Restate;
    they read credentials through the provider's client at request time, never store them."""

    # -- what the action is -------------------------------------------------------------------
    name: ClassVar[str]
    """`provider.verb_object`, e.g. `stripe.create_invoice`."""
    kind: ClassVar[StepKind]
    """compensable (undone on unwind), retryable or noncompensable (deferred before the pivot)."""
    params: type[Params]
    """The pydantic model of what a step may ask; validated strictly (no coercion)."""
    carrier: ClassVar[KeyCarrier]
    readback: ClassVar[str]
    """What is fetched after the write and which fields are compared."""
    compensation: ClassVar[str] = "none"
    """The semantic undo in words (or why there is none)."""
    not_run: ClassVar[str]
    """The summary's sentence when the step never ran ("No Slack message was sent.")."""
    pivot_eligible: ClassVar[bool] = False
    idempotency: ClassVar[Idempotency] = "lookup"
    """What makes a repeated write safe at the provider itself (`pivot actions --table`, the
    "idempotent" column): see `Idempotency`. `lookup`, the default, claims nothing of the provider."""
    undo_scope: ClassVar[Literal["full", "partial"]] = "full"
    """`partial`: the undo reverses the effect in the provider only, not all it caused (a cancelled
    fulfillment does not bring back a parcel already with the carrier); `compensation` says what."""
    retry: ClassVar[RetryBudget] = DEFAULT_FORWARD_BUDGET
    compensation_retry: ClassVar[RetryBudget] = DEFAULT_COMPENSATION_BUDGET
    atomicity: ClassVar[str] = "single write"
    lookup_before_write: ClassVar[bool] = False
    """The provider has no idempotency header: only the lookup keeps a retried write from making a
    second object. The engine then journals a fence before a saga's first write, which proves when
    no earlier attempt can have sent it, so the lookup can be skipped (`first_write()`). With an
    idempotency header a replayed write is harmless and the fence is not worth its journal entry."""
    fenced: ClassVar[bool] = False
    """The provider's lookup cannot see a write still in flight (Slack): a retry after a crash first
    waits out the earlier attempt's in-flight window."""

    after_tamper: ClassVar[Literal["conflict", "undone"]] = "conflict"
    """What the undo does once a third party changed the object (`tamper`), for `pivot conformance`:
    `conflict` — it refuses (`CompensationConflict`: the step compensation_failed, the saga
    needs_attention), the rule for an object the saga no longer owns alone; `undone` — it undoes only
    what is still the saga's doing and completes (a charge someone part-refunded: refund the rest)."""

    def in_flight_window(self) -> timedelta:
        """How long a request already sent may still land (the client's timeout)."""
        return timedelta(seconds=30)

    # -- how it is done -----------------------------------------------------------------------
    @abstractmethod
    async def lookup(self, params: Params, key: str) -> Found | None:
        """The object this step's write made, found by its forward key — live or undone — or None.
        It resolves an ambiguous write and backs the read-back: it must find by the key, nothing else."""

    @abstractmethod
    async def write(self, params: Params, key: str) -> Found:
        """Send the write, carrying `key` as `carrier` says; return what the provider answered."""

    async def complete(self, params: Params, key: str, found: Found) -> Found:
        """An earlier attempt's write was found: finish it if it stopped half-way (a draft not yet
        finalized), and return it. By default it is done already."""
        return found

    async def read_back(self, params: Params, key: str, written: Found) -> Found | None:
        """What the provider holds now for this step (None: gone). By default, `lookup` again."""
        return await self.lookup(params, key)

    @abstractmethod
    def verify(self, params: Params, fresh: Found) -> JsonDict:
        """The verified result — JSON-safe, with a `ref` such as `stripe:invoice/in_123` — built from
        `fresh` after comparing it with what `params` asked; raise `Mismatch` when they disagree."""

    @abstractmethod
    def describe(self, result: JsonDict) -> str:
        """A past-tense sentence about a verified result, for the outcome's summary."""

    # -- how it is undone (compensable actions) -------------------------------------------------
    async def recall(self, params: Params, key: str, result: JsonDict | None) -> Found | None:
        """The effect an undo starts from (None: the write never landed). By default `lookup(params,
        key)`. With the verified result (None when the forward's answer was lost) an action may read
        the object by the id it names instead: a search index that lags the write would miss a fresh
        object, and an object the API no longer returns once undone (a deleted customer or draft) is
        then answered as undone, not as absent — so a second delivery sees it undone."""
        return await self.lookup(params, key)

    def is_undone(self, found: Found) -> bool:
        """Whether `found` already shows the undo (archived, voided, refunded): a second delivery of
        the compensation must not undo again."""
        return False

    def already_undone(self, found: Found) -> str:
        """What a compensation delivered again reports when `is_undone(found)`, in words."""
        return f"{self.name}: already undone"

    async def undo(
        self, params: Params, found: Found, result: JsonDict | None, key: str
    ) -> "str | CompensationReport":
        """Undo the write, carrying the compensation `key`; undo only what is still the saga's doing
        (else raise `CompensationConflict` with both values). Returns what was done, in words, or a
        whole report when the undo itself finds there is nothing to undo (a retract policy of
        "leave it").

        A noncompensable action may offer an undo too: the engine never unwinds it, but an
        operator's retract runs it (Slack's post: a correction, or a delete)."""
        raise NotImplementedError(f"{self.name} has no undo")

    async def not_found(self, params: Params, result: JsonDict | None, key: str) -> CompensationReport:
        """The compensation's lookup found nothing carrying the step's key. By default the write
        never landed: nothing to undo. An action whose verified `result` still points at what it
        wrote (an updated record, a message by its ts) says what that means: already gone
        (compensated), or its key carrier overwritten by somebody else while the saga's change is
        still there (undo by the result), or the object deleted under it (`CompensationConflict`)."""
        return CompensationReport(state="nothing_to_undo", detail=f"{self.name}: nothing of this step to undo")

    def describe_undo(self, result: JsonDict) -> str:
        """A sentence about the undo of a verified result, for the summary. Not overridden: the
        summary says what `undo` returned."""
        raise NotImplementedError

    # -- for `pivot conformance` (optional) ------------------------------------------------------
    async def example(self) -> Params:
        """Params a conformance run can write with, against the provider this action is configured
        for; create through the client what they depend on (a payment to refund, a message to edit).
        Unique per call where the API needs it (an email). Not offered: conformance cannot run it."""
        raise NotImplementedError

    async def find_all(self, params: Params, key: str) -> list[Found]:
        """Every object carrying `key`, to prove there is one, not two. By default `lookup`'s; an
        API that can list by the key should say so here."""
        found = await self.lookup(params, key)
        return [] if found is None else [found]

    async def tamper(self, params: Params, found: Found) -> None:
        """Change the object as a third party would (edit a field, pay an invoice), so conformance
        can check the undo does not overwrite it. Not offered by default: that case is skipped."""
        raise NotImplementedError

    def offers(self, hook: str) -> bool:
        """Whether this action overrides an optional hook (`example`, `find_all`, `tamper`, …)."""
        return self._overrides(hook)

    # -- the step protocol, composed ------------------------------------------------------------
    async def forward(self, params: Params, keys: StepKeys) -> JsonDict:
        key = keys.forward
        # On a write the engine proves no earlier attempt can have sent, there is nothing to find.
        found = None if first_write() else await self.lookup(params, key)
        if found is not None:
            written = await self.complete(params, key, found)
        else:
            try:
                written = await self.write(params, key)
            except AlreadyWritten as exists:
                raced = await self.lookup(params, key)
                if raced is None:
                    raise ProviderRejected(exists.code, str(exists) or f"{self.name}: the object exists "
                                           "already, and not as this step's", exists.detail) from None
                written = await self.complete(params, key, raced)
        fresh = await self.read_back(params, key, written)
        if fresh is None:
            raise ProviderRejected("readback_mismatch", f"{self.name}: what the step wrote is gone after the write")
        try:
            return self.verify(params, fresh)
        except Mismatch as mismatch:
            raise ProviderRejected("readback_mismatch", mismatch.message,
                                   {"expected": mismatch.expected, "actual": mismatch.actual}) from None

    async def compensate(self, params: Params, keys: StepKeys, result: JsonDict | None) -> CompensationReport:
        found = await self.recall(params, keys.forward, result)
        if found is None:
            return await self.not_found(params, result, keys.compensation)
        if self.is_undone(found):
            return CompensationReport(state="compensated", detail=self.already_undone(found))
        done = await self.undo(params, found, result, keys.compensation)
        return done if isinstance(done, CompensationReport) else CompensationReport(state="compensated", detail=done)

    def action(self) -> Action:
        """The catalog entry the engine runs."""
        undoable = self.kind is StepKind.COMPENSABLE or self._overrides("undo")  # an operator's retract
        return Action(
            name=self.name, kind=self.kind, params=self.params, forward=self.forward,
            compensate=self.compensate if undoable else None, compensation=self.compensation,
            key_carrier=self.carrier.description, readback=self.readback, describe=self.describe,
            describe_undo=self.describe_undo if undoable and self._overrides("describe_undo") else None,
            not_run=self.not_run,
            pivot_eligible=self.pivot_eligible, undo_scope=self.undo_scope, idempotency=self.idempotency,
            retry=self.retry, compensation_retry=self.compensation_retry,
            atomicity=self.atomicity, in_flight_window=self.in_flight_window(), fenced=self.fenced,
            lookup_before_write=self.lookup_before_write, kit=self,
        )

    def _overrides(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(KeyedAction, method)
