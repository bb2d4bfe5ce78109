"""What the Stripe actions share: the client they are bound to, the objects they handle (Stripe's
JSON), their in-flight window (the client's timeout), the retry budget of steps after the pivot, and
for an action that creates an object, how it is found again (`CreateAction`)."""

from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from uuid import uuid4

from pydantic import BaseModel

from pivot.compensations.actions import CompensationReport, JsonDict, RetryBudget
from pivot.compensations.keys import StepKeys
from pivot.compensations.kit import KeyedAction
from pivot.providers.stripe.actions.lookup import carries, keyed
from pivot.providers.stripe.client import StripeClient

StripeObject = dict[str, Any]
"""A Stripe API object as the client returns it (a customer, PaymentIntent, invoice, refund)."""

P = TypeVar("P", bound=BaseModel)

AFTER_PIVOT_BUDGET = RetryBudget(max_attempts=10, max_interval=timedelta(seconds=30))
"""Steps after the pivot must finish: more attempts and longer waits than a pre-pivot write."""


class StripeAction(KeyedAction[P, StripeObject]):
    """A catalog action on one Stripe account (the client's)."""

    def __init__(self, client: StripeClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window


class CreateAction(StripeAction[P]):
    """An action whose write creates one Stripe object carrying the step key in `metadata[pivot_key]`.

    Found by key through the list endpoint (consistent, unlike search), filtered by a field the
    params share with it (a customer's invoices, a payment's refunds); read back by id, which is
    cheaper; undone from the object its verified result names, read by id too, because Stripe lists
    no deleted object while a read by id still shows it (or answers 404: gone, as deleted)."""

    collection: ClassVar[str]
    """The list endpoint, and with `/{id}` the object's: `/v1/invoices`."""
    listed_by: ClassVar[str]
    """The list filter that is also a params field: `customer`, `email`, `payment_intent`."""
    noun: ClassVar[str]
    """What the object is called in messages: `invoice`, `PaymentIntent`."""

    def _listing(self, params: P) -> dict[str, Any]:
        return {self.listed_by: getattr(params, self.listed_by)}

    async def lookup(self, params: P, key: str) -> StripeObject | None:
        return await self.client.find(self.collection, self._listing(params), carries(key))

    async def find_all(self, params: P, key: str) -> list[StripeObject]:
        return await self.client.find_every(self.collection, self._listing(params), carries(key))

    async def read_back(self, params: P, key: str, written: StripeObject) -> StripeObject | None:
        fresh = await self.client.get(f"{self.collection}/{written['id']}")
        if fresh is None or fresh.get("deleted"):
            return None
        return keyed(fresh, key, f"Stripe {self.noun} {written['id']}")

    async def recall(self, params: P, key: str, result: JsonDict | None) -> StripeObject | None:
        if result is None:
            return await self.lookup(params, key)
        found = await self.client.get(f"{self.collection}/{result['id']}")
        return {"id": result["id"], "deleted": True} if found is None else found

    def is_undone(self, found: StripeObject) -> bool:
        return bool(found.get("deleted"))

    async def not_found(self, params: P, result: JsonDict | None, key: str) -> CompensationReport:
        return CompensationReport(state="nothing_to_undo", detail=f"Stripe holds no {self.noun} for this step")

    def already_undone(self, found: StripeObject) -> str:
        return f"Stripe {self.noun} {found['id']} is deleted"


async def prerequisite(action: StripeAction[Any]) -> JsonDict:
    """Run `action` on its own example params, as the one step of a run of its own: what another
    action's conformance example needs first (a customer, a payment, an open invoice), made the way
    the catalog makes it, on the account the client is configured for."""
    params = await action.example()
    return await action.forward(params, StepKeys.derive(f"conformance-{uuid4().hex}", "prerequisite", action.name))
