"""batch_create: up to 100 contacts or deals in one call; undone by one batch archive.

Each input carries its own key, `keys.sub(index)`, in the unique `pivot_key` property. The lookup
reads all keys back with `batch/read` + `idProperty=pivot_key` (and the archived ones), and the
write creates only the inputs not found live, so a rerun after a lost answer creates nothing
twice. HubSpot's batch create is not all-or-nothing (a 207 carries per-input errors); the inputs
that failed make the step fail terminally, and the compensation archives whatever exists under
the step's keys.
"""

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.hubspot.actions.keyed import (
    KEY_PROPERTY,
    PROPERTY_NAME,
    RESERVED,
    SINGULAR,
    HubSpotAction,
    distinct_ids,
    normalized,
    unique_email,
)
from pivot.providers.hubspot.client import AlreadyExists

MAX_INPUTS = 100


class BatchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    properties: dict[str, str] = Field(min_length=1, max_length=100)

    @field_validator("properties")
    @classmethod
    def _writable(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if not re.fullmatch(PROPERTY_NAME, name) or name in RESERVED:
                raise ValueError(f"property {name!r} cannot be written by a saga step")
            if len(item) > 1000:
                raise ValueError(f"property {name!r}: at most 1000 characters")
        return value


class BatchCreateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_type: Literal["contacts", "deals"]
    inputs: list[BatchInput] = Field(min_length=1, max_length=MAX_INPUTS)

    def names(self) -> list[str]:
        return sorted({name for item in self.inputs for name in item.properties})


def input_keys(key: str, count: int) -> list[str]:
    """Each input's key: the step's key with the input's index, as `StepKeys.sub` derives it."""
    return [f"{key}:{index}" for index in range(count)]


@dataclass(frozen=True)
class Batch:
    """What HubSpot holds under a batch step's keys: live objects and archived ones, by input key."""

    object_type: str
    keys: list[str]
    live: dict[str, JsonDict]
    archived: dict[str, JsonDict] = field(default_factory=dict)


class BatchCreate(HubSpotAction[BatchCreateParams, Batch]):
    name: ClassVar[str] = "hubspot.batch_create"
    idempotency = "unique"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = BatchCreateParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"inputs[].properties.{KEY_PROPERTY}", f"'{KEY_PROPERTY}' = step key + ':index' per input; batch/read by "
        "idProperty before creating only the missing inputs")
    readback: ClassVar[str] = "POST batch/read by pivot_key: every input's properties"
    compensation: ClassVar[str] = "batch archive of every object carrying one of the step's keys"
    atomicity: ClassVar[str] = ("one batch/create call for up to 100 inputs; not all-or-nothing (207 partial), so a "
                                "partial batch fails the step and the compensation archives what was created")
    not_run: ClassVar[str] = "No HubSpot records were batch-created"

    async def _by_keys(self, object_type: str, sub_keys: list[str], properties: list[str],
                       *, archived: bool = False) -> dict[str, JsonDict]:
        found = await self.client.batch_read(object_type, sub_keys, id_property=KEY_PROPERTY, archived=archived,
                                             properties=[*properties, KEY_PROPERTY])
        return {str(obj["properties"][KEY_PROPERTY]): obj for obj in found
                if (obj.get("properties") or {}).get(KEY_PROPERTY) in sub_keys}

    async def lookup(self, params: BatchCreateParams, key: str) -> Batch | None:
        sub_keys = input_keys(key, len(params.inputs))
        live = await self._by_keys(params.object_type, sub_keys, params.names())
        gone = [sub for sub in sub_keys if sub not in live]
        archived = await self._by_keys(params.object_type, gone, [], archived=True) if gone else {}
        return Batch(params.object_type, sub_keys, live, archived) if live or archived else None

    async def write(self, params: BatchCreateParams, key: str) -> Batch:
        return await self._create_missing(params, key, {})

    async def complete(self, params: BatchCreateParams, key: str, found: Batch) -> Batch:
        return await self._create_missing(params, key, found.live)

    async def _create_missing(self, params: BatchCreateParams, key: str, live: dict[str, JsonDict]) -> Batch:
        """Create the inputs not live yet, in one batch/create; the read-back looks them all up."""
        sub_keys = input_keys(key, len(params.inputs))
        missing = [index for index, sub in enumerate(sub_keys) if sub not in live]
        if not missing:
            return Batch(params.object_type, sub_keys, live)
        errors: list[dict[str, Any]] = []
        try:
            _, errors = await self.client.batch_create(
                params.object_type,
                [{**params.inputs[index].properties, KEY_PROPERTY: sub_keys[index]} for index in missing],
            )
        except AlreadyExists as exists:  # a concurrent attempt of this step, or somebody else's record?
            now_present = await self._by_keys(params.object_type, sub_keys, params.names())
            if any(sub not in now_present for sub in sub_keys):
                raise ProviderRejected("already_exists", f"HubSpot refused the batch: {exists}",
                                       {"existing_id": exists.existing_id}) from None
        if errors:
            raise ProviderRejected("batch_partial", f"HubSpot created only part of the batch "
                                   f"({len(errors)} error(s)); the rest is undone with the step",
                                   {"errors": errors[:5]})
        return Batch(params.object_type, sub_keys, live)

    def verify(self, params: BatchCreateParams, fresh: Batch) -> JsonDict:
        """Every input live under its key with its properties; the ids in input order."""
        ids: list[str] = []
        for index, (sub, item) in enumerate(zip(fresh.keys, params.inputs, strict=True)):
            obj = fresh.live.get(sub)
            props: dict[str, Any] = (obj or {}).get("properties") or {}
            expected = {name: normalized(name, value) for name, value in item.properties.items()}
            actual = {name: normalized(name, props.get(name)) for name in item.properties}
            if obj is None or actual != expected:
                raise Mismatch(f"HubSpot batch input {index} does not match the plan",
                               expected=expected, actual=actual if obj else None)
            ids.append(str(obj["id"]))
        singular = SINGULAR[params.object_type]
        return {"ref": f"hubspot:{singular}/{','.join(ids)}", "object_type": params.object_type, "ids": ids,
                "count": len(ids)}

    def describe(self, result: JsonDict) -> str:
        return f"{result['count']} HubSpot {result['object_type']} were created"

    def describe_undo(self, result: JsonDict) -> str:
        return f"{result['count']} HubSpot {result['object_type']} were archived"

    def is_undone(self, found: Batch) -> bool:
        return not found.live

    def already_undone(self, found: Batch) -> str:
        return f"HubSpot {found.object_type}: {len(found.archived)} already archived"

    async def undo(self, params: BatchCreateParams, found: Batch, result: JsonDict | None, key: str) -> str:
        await self.client.batch_archive(params.object_type, [str(obj["id"]) for obj in found.live.values()])
        already = f" ({len(found.archived)} already archived)" if found.archived else ""
        return f"archived {len(found.live)} HubSpot {params.object_type}{already}"

    # -- conformance ---------------------------------------------------------------------------
    async def example(self) -> BatchCreateParams:
        return BatchCreateParams(object_type="contacts", inputs=[
            BatchInput(properties={"email": unique_email(), "firstname": name}) for name in ("Ada", "Grace")])

    async def find_all(self, params: BatchCreateParams, key: str) -> list[Batch]:
        """The batch as the lookup finds it, then one more for each other object under one of its
        keys: live ones the search sees (none while `pivot_key` requires unique values) and the
        archived one HubSpot names for each key (an input created again after the undo)."""
        found = await self.lookup(params, key)
        if found is None:
            return []
        known = {str(obj["id"]) for obj in [*found.live.values(), *found.archived.values()]}
        archived = await self._by_keys(params.object_type, found.keys, [], archived=True)
        searched = await self.client.search(params.object_type, KEY_PROPERTY, found.keys, properties=[KEY_PROPERTY])
        others = [obj for obj in distinct_ids(list(archived.values()), searched) if str(obj["id"]) not in known]
        return [found, *(Batch(params.object_type, found.keys, {str(obj["properties"][KEY_PROPERTY]): obj})
                         for obj in others)]
