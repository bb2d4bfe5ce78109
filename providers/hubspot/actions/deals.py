"""create_deal, undone by archiving it; the saga key rides in the unique `pivot_key` deal property."""

import uuid
from typing import ClassVar

from pydantic import ConfigDict, Field

from pivot.compensations.actions import JsonDict
from pivot.compensations.kit import KeyCarrier
from pivot.providers.hubspot.actions.keyed import KEY_PROPERTY, CreateParams, KeyedCreate


class CreateDealParams(CreateParams):
    model_config = ConfigDict(extra="forbid")

    dealname: str = Field(min_length=1, max_length=200)
    amount: str | None = Field(default=None, pattern=r"^\d{1,12}(\.\d{1,2})?$",
                               description="In currency units, as HubSpot stores it (\"1500.00\")")
    pipeline: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    dealstage: str = Field(default="appointmentscheduled", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    closedate: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z)?$")


class CreateDeal(KeyedCreate[CreateDealParams]):
    name: ClassVar[str] = "hubspot.create_deal"
    idempotency = "unique"
    params = CreateDealParams
    object_type: ClassVar[str] = "deals"
    verified: ClassVar[tuple[str, ...]] = ("dealname", "amount", "pipeline", "dealstage", "closedate")
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"properties.{KEY_PROPERTY}", f"unique deal property '{KEY_PROPERTY}', looked up with idProperty before "
        "writing (skipped on a write no earlier attempt can have sent)")
    readback: ClassVar[str] = ("GET /crm/v3/objects/deals/{id}: dealname, amount, pipeline, dealstage, closedate, "
                               "key property")
    not_run: ClassVar[str] = "No HubSpot deal was created"

    def describe(self, result: JsonDict) -> str:
        return f"HubSpot deal {result['id']} ({result.get('dealname')}) was created"

    async def example(self) -> CreateDealParams:
        return CreateDealParams(dealname=f"Pivot conformance {uuid.uuid4().hex[:8]}", amount="1500.00")
