"""Kit actions over "somebody's API": contacts on the HubSpot sandbox, reached as provider `contacts`
(`PIVOT_CONTACTS_BASE_URL`, credential `CONTACTS_TOKEN`), the way a user's own API would be.

`contacts.create_contact` is written right; each other action is it with one deliberate defect, the
kind the kit exists to catch (`pivot conformance` must fail the case that names it):

| action                            | defect                                              | caught by |
|-----------------------------------|-----------------------------------------------------|-----------|
| contacts.lookup_ignores_key       | `lookup` never finds the step's write by its key    | case 2    |
| contacts.undo_not_idempotent      | `is_undone` never sees the undo: undone again       | case 6    |
| contacts.readback_never_compares  | `verify` accepts whatever the read-back says        | case 8    |
| contacts.unconditional_restore    | `undo` archives whatever a third party changed      | case 7    |
| contacts.retry_after_ignored      | a 429 is retried without the provider's Retry-After | case 4    |

The key travels in `conformance_key`, a property that is *not* unique: nothing but the action's own
lookup stops a retried write from making a second contact, so a lookup that ignores the key shows as
two contacts. Contacts have no email here (HubSpot's email is unique, which would hide that).
"""

import uuid
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pivot.kit import (
    Action,
    CompensationConflict,
    JsonDict,
    KeyCarrier,
    KeyedAction,
    Mismatch,
    ProviderUnavailable,
    StepKind,
)
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.client import HubSpotClient

KEY_PROPERTY = "conformance_key"
PROPERTIES = ("firstname", "lastname", KEY_PROPERTY)
CONTACTS = "/crm/v3/objects/contacts"
Contact = dict[str, Any]


class ContactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    firstname: str = Field(max_length=100)
    lastname: str = Field(max_length=100)


class CreateContact(KeyedAction[ContactParams, Contact]):
    """Create a contact carrying the key; undo: archive it, unless someone renamed it since."""

    name: ClassVar[str] = "contacts.create_contact"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = ContactParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(f"properties.{KEY_PROPERTY}")
    readback: ClassVar[str] = "the contact by key: firstname, lastname"
    compensation: ClassVar[str] = "archive it, only while it still has the name the step gave it"
    not_run: ClassVar[str] = "No contact was created."
    lookup_before_write: ClassVar[bool] = True

    def __init__(self, client: HubSpotClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window

    async def _carrying(self, key: str) -> list[Contact]:
        """Every contact, live or archived, whose key property holds `key` (the API lists; it cannot
        search by a property that is not unique)."""
        found: list[Contact] = []
        for archived in ("false", "true"):
            after = ""
            while True:
                query = {"limit": "100", "archived": archived, "properties": ",".join(PROPERTIES),
                         **({"after": after} if after else {})}
                page = (await self.client.http.request("GET", CONTACTS, params=query)).json()
                found += [c for c in page.get("results", []) if (c.get("properties") or {}).get(KEY_PROPERTY) == key]
                after = ((page.get("paging") or {}).get("next") or {}).get("after", "")
                if not after:
                    break
        return sorted(found, key=lambda c: int(c["id"]))

    async def lookup(self, params: ContactParams, key: str) -> Contact | None:
        found = await self._carrying(key)
        return found[0] if found else None

    async def find_all(self, params: ContactParams, key: str) -> list[Contact]:
        return await self._carrying(key)

    async def write(self, params: ContactParams, key: str) -> Contact:
        return await self.client.create_object("contacts", {**params.model_dump(), KEY_PROPERTY: key})

    def verify(self, params: ContactParams, fresh: Contact) -> JsonDict:
        props = fresh.get("properties") or {}
        actual = {name: props.get(name) for name in ("firstname", "lastname")}
        if actual != params.model_dump():
            raise Mismatch(f"contact {fresh['id']} does not hold what the step wrote", expected=params.model_dump(),
                           actual=actual)
        return {"ref": f"contacts:contact/{fresh['id']}", "id": str(fresh["id"]), **actual}

    def describe(self, result: JsonDict) -> str:
        return f"Contact {result['id']} was created"

    def is_undone(self, found: Contact) -> bool:
        return bool(found.get("archived"))

    async def undo(self, params: ContactParams, found: Contact, result: JsonDict | None, key: str) -> str:
        current = (found.get("properties") or {}).get("firstname")
        if current != params.firstname:
            raise CompensationConflict(f"contact {found['id']} was renamed since the step created it",
                                       expected=params.firstname, current=current)
        await self.client.archive_object("contacts", str(found["id"]))
        return f"contact {found['id']} archived"

    async def example(self) -> ContactParams:
        return ContactParams(firstname="Ada", lastname=f"Conformance-{uuid.uuid4().hex[:10]}")

    async def tamper(self, params: ContactParams, found: Contact) -> None:
        await self.client.update_object("contacts", str(found["id"]), {"firstname": "Grace"})


class LookupIgnoresKey(CreateContact):
    name: ClassVar[str] = "contacts.lookup_ignores_key"

    async def lookup(self, params: ContactParams, key: str) -> Contact | None:
        return None

    async def read_back(self, params: ContactParams, key: str, written: Contact) -> Contact | None:
        return await self.client.get_object("contacts", str(written["id"]), properties=list(PROPERTIES))


class UndoNotIdempotent(CreateContact):
    name: ClassVar[str] = "contacts.undo_not_idempotent"

    def is_undone(self, found: Contact) -> bool:
        return False


class ReadbackNeverCompares(CreateContact):
    name: ClassVar[str] = "contacts.readback_never_compares"

    def verify(self, params: ContactParams, fresh: Contact) -> JsonDict:
        return {"ref": f"contacts:contact/{fresh['id']}", "id": str(fresh["id"]), **params.model_dump()}


class UnconditionalRestore(CreateContact):
    name: ClassVar[str] = "contacts.unconditional_restore"

    async def undo(self, params: ContactParams, found: Contact, result: JsonDict | None, key: str) -> str:
        await self.client.archive_object("contacts", str(found["id"]))
        return f"contact {found['id']} archived"


class RetryAfterIgnored(CreateContact):
    name: ClassVar[str] = "contacts.retry_after_ignored"

    async def write(self, params: ContactParams, key: str) -> Contact:
        try:
            return await super().write(params, key)
        except ProviderUnavailable as unavailable:
            raise ProviderUnavailable(unavailable.message, ambiguous=unavailable.ambiguous) from None


VARIANTS = (CreateContact, LookupIgnoresKey, UndoNotIdempotent, ReadbackNeverCompares, UnconditionalRestore,
            RetryAfterIgnored)


def actions() -> list[Action]:
    """PIVOT_CATALOG_PLUGINS=tests.conformance.contacts:actions"""
    client = HubSpotClient(Endpoint.from_env("contacts", "http://127.0.0.1:9", "CONTACTS_TOKEN", "Contacts"))
    return [variant(client).action() for variant in VARIANTS]
