"""What every HubSpot action shares: the key carriers, HubSpot's value rules, and the keyed create.

HubSpot has no idempotency header. A create carries the saga key in the unique `pivot_key`
property: its lookup reads by `idProperty=pivot_key` (live, then archived), and HubSpot refuses a
second live object with the same key (409), which the kit then looks up. Its undo archives the
object; an archived object is what "already undone" looks like, so a compensation delivered again
archives nothing. An update carries its key and before-image in `pivot_undo` (see `properties`).
"""

import uuid
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from pivot.compensations.actions import JsonDict
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import AlreadyWritten, KeyedAction, Mismatch
from pivot.providers.hubspot.client import AlreadyExists, HubSpotClient

KEY_PROPERTY = "pivot_key"
UNDO_PROPERTY = "pivot_undo"
RESERVED = frozenset({KEY_PROPERTY, UNDO_PROPERTY, "hs_object_id", "createdate", "lastmodifieddate",
                      "hs_lastmodifieddate"})
PROPERTY_NAME = r"^[a-z][a-z0-9_]{0,99}$"
SINGULAR = {"contacts": "contact", "deals": "deal"}
ARCHIVE = "archive (DELETE, restorable for 90 days)"


def normalized(name: str, value: str | None) -> str | None:
    """A property value as HubSpot stores it: "" and null both mean unset, emails are lower case."""
    if value is None or value == "":
        return None
    return value.strip().lower() if name == "email" else value


def unique_email() -> str:
    """An address no other conformance run uses (a contact's email is unique in HubSpot)."""
    return f"pivot-conformance-{uuid.uuid4().hex[:12]}@example.com"


def distinct_ids(*groups: list[JsonDict]) -> list[JsonDict]:
    """The objects of every group, each id once, in order of first appearance."""
    seen: dict[str, JsonDict] = {}
    for group in groups:
        for obj in group:
            seen.setdefault(str(obj["id"]), obj)
    return list(seen.values())


P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


class HubSpotAction(KeyedAction[P, F]):
    """An action bound to the HubSpot client (the default connection's endpoint; a step's named
    connection is chosen per request by the client's HTTP layer)."""

    def __init__(self, client: HubSpotClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window


class CreateParams(BaseModel):
    """Params of a create: HubSpot properties, the unset ones left out."""

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


C = TypeVar("C", bound=CreateParams)


class KeyedCreate(HubSpotAction[C, JsonDict]):
    """A create keyed by the unique `pivot_key` property, undone by archiving the object."""

    object_type: ClassVar[str]
    verified: ClassVar[tuple[str, ...]]
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    compensation: ClassVar[str] = ARCHIVE
    lookup_before_write: ClassVar[bool] = True

    @property
    def singular(self) -> str:
        return SINGULAR[self.object_type]

    def _read_set(self) -> list[str]:
        return [*self.verified, KEY_PROPERTY]

    async def _by_key(self, key: str, *, archived: bool = False) -> JsonDict | None:
        return await self.client.get_object(self.object_type, key, id_property=KEY_PROPERTY, archived=archived,
                                            properties=self._read_set())

    async def lookup(self, params: C, key: str) -> JsonDict | None:
        """The live object carrying the key, else an archived one (the undo done), else None."""
        return await self._by_key(key) or await self._by_key(key, archived=True)

    async def write(self, params: C, key: str) -> JsonDict:
        try:
            return await self.client.create_object(self.object_type, {**params.properties(), KEY_PROPERTY: key})
        except AlreadyExists as exists:  # the kit looks the key up: a concurrent attempt of this step?
            named = f" (id {exists.existing_id})" if exists.existing_id else ""
            raise AlreadyWritten(f"HubSpot already has a {self.singular} with these unique values{named}",
                                 code=f"{self.singular}_exists", detail={"existing_id": exists.existing_id}) from None

    async def read_back(self, params: C, key: str, written: JsonDict) -> JsonDict | None:
        """The live object by id; None when it is gone or no longer carries the step's key."""
        fresh = await self.client.get_object(self.object_type, str(written["id"]), properties=self._read_set())
        return fresh if fresh is not None and (fresh.get("properties") or {}).get(KEY_PROPERTY) == key else None

    def verify(self, params: C, fresh: JsonDict) -> JsonDict:
        props: dict[str, Any] = fresh.get("properties") or {}
        expected = {k: normalized(k, v) for k, v in params.properties().items() if k in self.verified}
        actual = {name: normalized(name, props.get(name)) for name in expected}
        if actual != expected:
            raise Mismatch(f"HubSpot {self.singular} {fresh.get('id')} does not match the plan",
                           expected=expected, actual=actual)
        return {"ref": f"hubspot:{self.singular}/{fresh['id']}", "id": str(fresh["id"]), **actual}

    def is_undone(self, found: JsonDict) -> bool:
        return found.get("archived") is True

    def already_undone(self, found: JsonDict) -> str:
        return f"HubSpot {self.singular} {found['id']} is archived"

    async def undo(self, params: C, found: JsonDict, result: JsonDict | None, key: str) -> str:
        await self.client.archive_object(self.object_type, str(found["id"]))
        return f"HubSpot {self.singular} {found['id']} archived"

    def describe_undo(self, result: JsonDict) -> str:
        return f"HubSpot {self.singular} {result['id']} was archived"

    async def find_all(self, params: C, key: str) -> list[JsonDict]:
        """Every object carrying the key: the live one by idProperty, any other live one the search
        sees (there is none while `pivot_key` requires unique values), and the archived one HubSpot
        names for it (by idProperty it answers the latest; archived objects are not searchable)."""
        live = [found] if (found := await self._by_key(key)) else []
        searched = await self.client.search(self.object_type, KEY_PROPERTY, [key], properties=self._read_set())
        archived = [found] if (found := await self._by_key(key, archived=True)) else []
        return distinct_ids(live, searched, archived)
