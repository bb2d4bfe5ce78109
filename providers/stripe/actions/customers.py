"""create_customer, undone by deleting the customer.

Found again by listing customers with the plan's email and matching `metadata[pivot_key]`;
created with the step key as Idempotency-Key. Deletion is permanent on Stripe (and cancels the
customer's subscriptions), which is why the catalog keeps it for customers the saga itself made.

Limit: Stripe lists never show deleted customers. An undo with the verified result reads the
customer by id (a deleted one is a stub with `deleted: true`, so a second delivery sees it undone);
one whose forward answer was lost finds nothing once it is deleted and cannot tell "never created"
from "already deleted by an earlier attempt": it reports nothing_to_undo, true of Stripe's state.
"""

from typing import ClassVar
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import JsonDict
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.stripe.actions.base import CreateAction, StripeObject
from pivot.providers.stripe.actions.lookup import KEY_METADATA, in_metadata

EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"


class CreateCustomerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=256)
    description: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=20)


class CreateCustomer(CreateAction[CreateCustomerParams]):
    name: ClassVar[str] = "stripe.create_customer"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = CreateCustomerParams
    carrier: ClassVar[KeyCarrier] = in_metadata(
        "Idempotency-Key header (step key) and metadata[pivot_key], found by listing "
        "customers with the plan's email")
    readback: ClassVar[str] = "GET /v1/customers/{id}: email, name, not deleted, metadata key"
    compensation: ClassVar[str] = "delete the customer (permanent on Stripe); an already deleted one counts as undone"
    not_run: ClassVar[str] = "No Stripe customer was created"
    collection: ClassVar[str] = "/v1/customers"
    listed_by: ClassVar[str] = "email"
    noun: ClassVar[str] = "customer"

    async def write(self, params: CreateCustomerParams, key: str) -> StripeObject:
        return await self.client.post(
            "/v1/customers",
            {"email": params.email, "name": params.name, "description": params.description,
             "phone": params.phone, "metadata": {KEY_METADATA: key}},
            idempotency_key=key,
        )

    def verify(self, params: CreateCustomerParams, fresh: StripeObject) -> JsonDict:
        customer_id = str(fresh["id"])
        expected = {"email": params.email, "name": params.name}
        actual = {field: fresh.get(field) for field in expected}
        if actual != expected:
            raise Mismatch(f"Stripe customer {customer_id} does not match the plan", expected=expected, actual=actual)
        return {"ref": f"stripe:customer/{customer_id}", "id": customer_id, **actual}

    def describe(self, result: JsonDict) -> str:
        return f"Stripe customer {result['id']} ({result.get('email')}) was created"

    async def undo(self, params: CreateCustomerParams, found: StripeObject, result: JsonDict | None, key: str) -> str:
        await self.client.delete(f"/v1/customers/{found['id']}")
        return f"Stripe customer {found['id']} deleted"

    def describe_undo(self, result: JsonDict) -> str:
        return f"Stripe customer {result['id']} was deleted"

    async def example(self) -> CreateCustomerParams:
        return CreateCustomerParams(email=f"conformance+{uuid4().hex[:12]}@example.com", name="Pivot Conformance",
                                    description="made by pivot conformance")
