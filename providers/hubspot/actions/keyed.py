"""Exactly-once creates on HubSpot: the saga key in the unique `pivot_key` property.

HubSpot has no idempotency header. A keyed create looks the object up by `pivot_key`
(`idProperty`), creates it only if absent, and treats a 409 as "a concurrent attempt of this
same step won" when the key lookup then finds it; the archive compensation finds the object by
the same key, live or archived, so a rerun reports `compensated` again without a second archive.
"""

from dataclasses import dataclass
from typing import Any

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.connections import first_write
from pivot.compensations.errors import ProviderRejected
from pivot.providers.hubspot.client import AlreadyExists, HubSpotClient

KEY_PROPERTY = "pivot_key"
UNDO_PROPERTY = "pivot_undo"
RESERVED = frozenset({KEY_PROPERTY, UNDO_PROPERTY, "hs_object_id", "createdate", "lastmodifieddate",
                      "hs_lastmodifieddate"})
PROPERTY_NAME = r"^[a-z][a-z0-9_]{0,99}$"
SINGULAR = {"contacts": "contact", "deals": "deal"}


def normalized(name: str, value: str | None) -> str | None:
    """A property value as HubSpot stores it: "" and null both mean unset, emails are lower case."""
    if value is None or value == "":
        return None
    return value.strip().lower() if name == "email" else value


@dataclass(frozen=True)
class KeyedObjects:
    """Create-by-key and archive-by-key for one object type."""

    client: HubSpotClient
    object_type: str

    @property
    def singular(self) -> str:
        return SINGULAR.get(self.object_type, self.object_type)

    async def by_key(self, key: str, properties: list[str], *, archived: bool = False) -> JsonDict | None:
        return await self.client.get_object(self.object_type, key, id_property=KEY_PROPERTY, archived=archived,
                                            properties=[*properties, KEY_PROPERTY])

    async def create(self, key: str, properties: dict[str, str], verified: list[str]) -> JsonDict:
        """The object carrying `key`, created if absent; then read back by id. On a write no earlier
        attempt can have sent (`first_write()`), there is nothing to look up; the unique key property
        would still refuse a second object (409), which is then looked up."""
        found = None if first_write() else await self.by_key(key, verified)
        if found is None:
            try:
                found = await self.client.create_object(self.object_type, {**properties, KEY_PROPERTY: key})
            except AlreadyExists as exists:
                found = await self.by_key(key, verified)  # a concurrent attempt of this same step?
                if found is None:
                    raise ProviderRejected(
                        f"{self.singular}_exists",
                        f"HubSpot already has a {self.singular} with these unique values"
                        + (f" (id {exists.existing_id})" if exists.existing_id else ""),
                        {"existing_id": exists.existing_id},
                    ) from None
        object_id = str(found["id"])
        fresh = await self.client.get_object(self.object_type, object_id, properties=[*verified, KEY_PROPERTY])
        if fresh is None:
            raise ProviderRejected("readback_mismatch", f"HubSpot {self.singular} {object_id} is gone after the write")
        return fresh

    def verify(self, fresh: JsonDict, key: str, expected: dict[str, str | None]) -> dict[str, str | None]:
        """The verified properties, or `readback_mismatch` naming both sides."""
        props: dict[str, Any] = fresh.get("properties") or {}
        want = {name: normalized(name, value) for name, value in expected.items()}
        actual = {name: normalized(name, props.get(name)) for name in expected}
        if actual != want or props.get(KEY_PROPERTY) != key:
            raise ProviderRejected("readback_mismatch",
                                   f"HubSpot {self.singular} {fresh.get('id')} does not match the plan",
                                   {"expected": want, "actual": actual})
        return actual

    async def archive(self, key: str) -> CompensationReport:
        found = await self.by_key(key, [])
        if found is not None:
            await self.client.archive_object(self.object_type, str(found["id"]))
            return CompensationReport(state="compensated", detail=f"HubSpot {self.singular} {found['id']} archived")
        archived = await self.by_key(key, [], archived=True)
        if archived is not None:
            return CompensationReport(state="compensated",
                                      detail=f"HubSpot {self.singular} {archived['id']} is archived")
        return CompensationReport(state="nothing_to_undo", detail=f"HubSpot holds no {self.singular} for this step")
