"""create_customer, undone by deleting the customer.

Found again by listing customers with the plan's email and matching `metadata[pivot_key]`;
created with the step key as Idempotency-Key. Deletion is permanent on Stripe (and cancels the
customer's subscriptions), which is why the catalog keeps it for customers the saga itself made.

Limit: Stripe lists never show deleted customers, so a compensation that runs with no forward
result (the answer was lost) and finds nothing cannot tell "never created" from "already deleted
by an earlier attempt"; it reports nothing_to_undo, which is true of Stripe's state either way.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.stripe.actions.lookup import KEY_METADATA, carries
from pivot.providers.stripe.client import StripeClient

EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"


class CreateCustomerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=20)


class CustomerActions:
    def __init__(self, client: StripeClient):
        self.client = client

    async def find_customer(self, email: str, key: str) -> dict[str, Any] | None:
        return await self.client.find("/v1/customers", {"email": email}, carries(key))

    async def create_customer(self, params: CreateCustomerParams, keys: StepKeys) -> JsonDict:
        customer = await self.find_customer(params.email, keys.forward)
        if customer is None:
            customer = await self.client.post(
                "/v1/customers",
                {"email": params.email, "name": params.name, "description": params.description,
                 "phone": params.phone, "metadata": {KEY_METADATA: keys.forward}},
                idempotency_key=keys.forward,
            )
        customer_id = str(customer["id"])
        fresh = await self.client.get(f"/v1/customers/{customer_id}")
        if fresh is None or fresh.get("deleted"):
            raise ProviderRejected("readback_mismatch", f"Stripe customer {customer_id} is gone after the write")
        expected = {"email": params.email, "name": params.name}
        actual = {field: fresh.get(field) for field in expected}
        if actual != expected or not carries(keys.forward)(fresh):
            raise ProviderRejected("readback_mismatch", f"Stripe customer {customer_id} does not match the plan",
                                   {"expected": expected, "actual": actual})
        return {"ref": f"stripe:customer/{customer_id}", "id": customer_id, **actual}

    async def delete_customer(
        self, params: CreateCustomerParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        if result is not None:
            customer = await self.client.get(f"/v1/customers/{result['id']}")
        else:
            customer = await self.find_customer(params.email, keys.forward)
        if customer is None:
            return CompensationReport(state="nothing_to_undo", detail="Stripe holds no customer for this step")
        if customer.get("deleted"):
            return CompensationReport(state="compensated", detail=f"Stripe customer {customer['id']} is deleted")
        await self.client.delete(f"/v1/customers/{customer['id']}")
        return CompensationReport(state="compensated", detail=f"Stripe customer {customer['id']} deleted")
