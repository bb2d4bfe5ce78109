"""create_contact, undone by archiving it (restorable in HubSpot for 90 days)."""

from typing import ClassVar

from pydantic import ConfigDict, Field

from pivot.compensations.actions import JsonDict
from pivot.compensations.kit import KeyCarrier
from pivot.providers.hubspot.actions.keyed import KEY_PROPERTY, CreateParams, KeyedCreate, unique_email

EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"


class CreateContactParams(CreateParams):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL)
    firstname: str | None = Field(default=None, max_length=200)
    lastname: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)


class CreateContact(KeyedCreate[CreateContactParams]):
    name: ClassVar[str] = "hubspot.create_contact"
    idempotency = "unique"
    params = CreateContactParams
    object_type: ClassVar[str] = "contacts"
    verified: ClassVar[tuple[str, ...]] = ("email", "firstname", "lastname")
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"properties.{KEY_PROPERTY}", f"unique contact property '{KEY_PROPERTY}', looked up with idProperty before "
        "writing (skipped on a write no earlier attempt can have sent)")
    readback: ClassVar[str] = "GET /crm/v3/objects/contacts/{id}: email, firstname, lastname, key property"
    not_run: ClassVar[str] = "No HubSpot contact was created"

    def describe(self, result: JsonDict) -> str:
        return f"HubSpot contact {result['id']} ({result.get('email')}) was created"

    async def example(self) -> CreateContactParams:
        return CreateContactParams(email=unique_email(), firstname="Ada", lastname="Lovelace")
