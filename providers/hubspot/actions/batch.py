"""batch_create: up to 100 contacts or deals in one call; undone by one batch archive.

Each input carries its own key, `keys.sub(index)`, in the unique `pivot_key` property. The forward
write reads all keys back with `batch/read` + `idProperty=pivot_key` first and creates only the
missing inputs, so a rerun after a lost answer creates nothing twice. HubSpot's batch create is
not all-or-nothing (a 207 carries per-input errors); the inputs that failed make the step fail
terminally, and the compensation archives whatever exists under the step's keys.
"""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.hubspot.actions.keyed import KEY_PROPERTY, PROPERTY_NAME, RESERVED, SINGULAR, normalized
from pivot.providers.hubspot.client import AlreadyExists, HubSpotClient

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


def input_keys(keys: StepKeys, count: int) -> list[str]:
    return [keys.sub(str(index)) for index in range(count)]


class BatchActions:
    def __init__(self, client: HubSpotClient):
        self.client = client

    async def _by_keys(self, object_type: str, sub_keys: list[str], properties: list[str],
                       *, archived: bool = False) -> dict[str, dict[str, Any]]:
        found = await self.client.batch_read(object_type, sub_keys, id_property=KEY_PROPERTY, archived=archived,
                                             properties=[*properties, KEY_PROPERTY])
        return {str(obj["properties"][KEY_PROPERTY]): obj for obj in found
                if (obj.get("properties") or {}).get(KEY_PROPERTY) in sub_keys}

    async def batch_create(self, params: BatchCreateParams, keys: StepKeys) -> JsonDict:
        sub_keys = input_keys(keys, len(params.inputs))
        names = sorted({name for item in params.inputs for name in item.properties})
        existing = await self._by_keys(params.object_type, sub_keys, names)
        missing = [index for index, key in enumerate(sub_keys) if key not in existing]
        if missing:
            errors: list[dict[str, Any]] = []
            try:
                _, errors = await self.client.batch_create(
                    params.object_type,
                    [{**params.inputs[index].properties, KEY_PROPERTY: sub_keys[index]} for index in missing],
                )
            except AlreadyExists as exists:  # a concurrent attempt of this step, or somebody else's record?
                now_present = await self._by_keys(params.object_type, sub_keys, names)
                if any(key not in now_present for key in sub_keys):
                    raise ProviderRejected("already_exists", f"HubSpot refused the batch: {exists}",
                                           {"existing_id": exists.existing_id}) from None
            if errors:
                raise ProviderRejected("batch_partial", f"HubSpot created only part of the batch "
                                       f"({len(errors)} error(s)); the rest is undone with the step",
                                       {"errors": errors[:5]})
        ids = await self._verify(params, sub_keys, names)
        singular = SINGULAR[params.object_type]
        return {"ref": f"hubspot:{singular}/{','.join(ids)}", "object_type": params.object_type, "ids": ids,
                "count": len(ids)}

    async def _verify(self, params: BatchCreateParams, sub_keys: list[str], names: list[str]) -> list[str]:
        """Read every input back by key and check its properties; the ids in input order."""
        found = await self._by_keys(params.object_type, sub_keys, names)
        ids: list[str] = []
        for index, (key, item) in enumerate(zip(sub_keys, params.inputs, strict=True)):
            obj = found.get(key)
            props: dict[str, Any] = (obj or {}).get("properties") or {}
            expected = {name: normalized(name, value) for name, value in item.properties.items()}
            actual = {name: normalized(name, props.get(name)) for name in item.properties}
            if obj is None or actual != expected:
                raise ProviderRejected("readback_mismatch", f"HubSpot batch input {index} does not match the plan",
                                       {"expected": expected, "actual": actual if obj else None})
            ids.append(str(obj["id"]))
        return ids

    async def batch_archive(
        self, params: BatchCreateParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        sub_keys = input_keys(keys, len(params.inputs))
        live = await self._by_keys(params.object_type, sub_keys, [])
        archived = await self._by_keys(params.object_type, [k for k in sub_keys if k not in live], [], archived=True)
        plural = params.object_type
        if not live and not archived:
            return CompensationReport(state="nothing_to_undo", detail=f"HubSpot holds no {plural} for this step")
        await self.client.batch_archive(params.object_type, [str(obj["id"]) for obj in live.values()])
        already = f" ({len(archived)} already archived)" if archived else ""
        return CompensationReport(state="compensated", detail=f"archived {len(live)} HubSpot {plural}{already}")
