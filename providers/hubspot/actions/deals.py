"""create_deal, undone by archiving it; the saga key rides in the unique `pivot_key` deal property."""

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.keys import StepKeys
from pivot.providers.hubspot.actions.keyed import KeyedObjects
from pivot.providers.hubspot.client import HubSpotClient

DEALS = "deals"
VERIFIED = ("dealname", "amount", "pipeline", "dealstage", "closedate")


class CreateDealParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dealname: str = Field(min_length=1, max_length=200)
    amount: str | None = Field(default=None, pattern=r"^\d{1,12}(\.\d{1,2})?$",
                               description="In currency units, as HubSpot stores it (\"1500.00\")")
    pipeline: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    dealstage: str = Field(default="appointmentscheduled", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    closedate: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+Z)?$")

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class DealActions:
    def __init__(self, client: HubSpotClient):
        self.deals = KeyedObjects(client, DEALS)

    async def create_deal(self, params: CreateDealParams, keys: StepKeys) -> JsonDict:
        fresh = await self.deals.create(keys.forward, params.properties(), list(VERIFIED))
        expected: dict[str, str | None] = {k: v for k, v in params.properties().items() if k in VERIFIED}
        actual = self.deals.verify(fresh, keys.forward, expected)
        return {"ref": f"hubspot:deal/{fresh['id']}", "id": str(fresh["id"]), **actual}

    async def archive_deal(
        self, params: CreateDealParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        return await self.deals.archive(keys.forward)
