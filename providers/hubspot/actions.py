"""HubSpot actions for the catalog: create_contact, undone by archiving it.

HubSpot has no idempotency header, so the step key travels in a unique contact property
(`pivot_key`): the forward write first looks the contact up by that property, creates it only
if absent, and reads it back by id to verify what the step promised.
"""

from pydantic import BaseModel, ConfigDict, Field

from compensations.actions import Action, CompensationReport, JsonDict
from compensations.errors import ProviderRejected
from compensations.keys import StepKeys
from compensations.kinds import StepKind
from providers.hubspot.client import ContactExists, HubSpotClient

KEY_PROPERTY = "pivot_key"
CONTACTS = "contacts"
_VERIFIED = ("email", "firstname", "lastname")


class CreateContactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class HubSpotActions:
    def __init__(self, client: HubSpotClient):
        self.client = client

    async def _by_key(self, key: str, *, archived: bool = False) -> JsonDict | None:
        return await self.client.get_object(
            CONTACTS, key, id_property=KEY_PROPERTY, archived=archived, properties=[*_VERIFIED, KEY_PROPERTY]
        )

    async def create_contact(self, params: CreateContactParams, keys: StepKeys) -> JsonDict:
        contact = await self._by_key(keys.forward)
        if contact is None:
            try:
                contact = await self.client.create_object(
                    CONTACTS, {**params.properties(), KEY_PROPERTY: keys.forward}
                )
            except ContactExists as exists:
                contact = await self._by_key(keys.forward)  # a concurrent attempt of this same step?
                if contact is None:
                    raise ProviderRejected(
                        "contact_exists",
                        f"HubSpot already has a contact with email {params.email}"
                        + (f" (id {exists.existing_id})" if exists.existing_id else ""),
                        {"existing_id": exists.existing_id},
                    ) from None
        contact_id = str(contact["id"])
        fresh = await self.client.get_object(CONTACTS, contact_id, properties=[*_VERIFIED, KEY_PROPERTY])
        if fresh is None:
            raise ProviderRejected("readback_mismatch", f"HubSpot contact {contact_id} is gone after the write")
        props = fresh.get("properties", {})
        expected = {k: v for k, v in params.properties().items() if k in _VERIFIED}
        actual = {k: props.get(k) for k in expected}
        if actual.get("email"):
            actual["email"] = str(actual["email"]).lower()
            expected["email"] = expected["email"].lower()
        if actual != expected or props.get(KEY_PROPERTY) != keys.forward:
            raise ProviderRejected("readback_mismatch", f"HubSpot contact {contact_id} does not match the plan",
                                   {"expected": expected, "actual": actual})
        return {"ref": f"hubspot:contact/{contact_id}", "id": contact_id, **actual}

    async def archive_contact(
        self, params: CreateContactParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        contact = await self._by_key(keys.forward)
        if contact is not None:
            await self.client.archive_object(CONTACTS, str(contact["id"]))
            return CompensationReport(state="compensated", detail=f"HubSpot contact {contact['id']} archived")
        archived = await self._by_key(keys.forward, archived=True)
        if archived is not None:
            return CompensationReport(state="compensated", detail=f"HubSpot contact {archived['id']} is archived")
        return CompensationReport(state="nothing_to_undo", detail="HubSpot holds no contact for this step")


def hubspot_actions(client: HubSpotClient) -> list[Action]:
    actions = HubSpotActions(client)
    return [
        Action(
            name="hubspot.create_contact",
            kind=StepKind.COMPENSABLE,
            params=CreateContactParams,
            forward=actions.create_contact,
            compensate=actions.archive_contact,
            key_carrier=f"unique contact property '{KEY_PROPERTY}', looked up with idProperty before writing",
            readback="GET /crm/v3/objects/contacts/{id}: email, firstname, lastname, key property",
            compensation="archive (DELETE, restorable for 90 days)",
            describe=lambda r: f"HubSpot contact {r['id']} ({r.get('email')}) was created",
            describe_undo=lambda r: f"HubSpot contact {r['id']} was archived",
            not_run="No HubSpot contact was created",
            in_flight_window=client.http.in_flight_window,
        )
    ]
