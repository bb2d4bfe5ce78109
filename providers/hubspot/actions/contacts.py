"""create_contact, undone by archiving it (restorable in HubSpot for 90 days)."""

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.keys import StepKeys
from pivot.providers.hubspot.actions.keyed import KeyedObjects
from pivot.providers.hubspot.client import HubSpotClient

CONTACTS = "contacts"
VERIFIED = ("email", "firstname", "lastname")
EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"


class CreateContactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL)
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ContactActions:
    def __init__(self, client: HubSpotClient):
        self.contacts = KeyedObjects(client, CONTACTS)

    async def create_contact(self, params: CreateContactParams, keys: StepKeys) -> JsonDict:
        fresh = await self.contacts.create(keys.forward, params.properties(), list(VERIFIED))
        expected: dict[str, str | None] = {k: v for k, v in params.properties().items() if k in VERIFIED}
        actual = self.contacts.verify(fresh, keys.forward, expected)
        return {"ref": f"hubspot:contact/{fresh['id']}", "id": str(fresh["id"]), **actual}

    async def archive_contact(
        self, params: CreateContactParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        return await self.contacts.archive(keys.forward)
