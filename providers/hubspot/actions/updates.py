"""update_properties: set properties of an existing contact or deal; undone by a conditional restore.

The before-image travels with the write. The PATCH that changes the properties also sets the
`pivot_undo` property to `{"k": step key, "b": {name: value before}}`, atomically, in the same
request. That settles the lost-answer replay: when the answer to the PATCH is lost and the step
runs again, its re-read already shows the saga's values, which must not be taken for the
before-image. The retry recognises its own key in `pivot_undo` and takes the before-image from
there, writing nothing. Without the stamp, a restore after such a replay would put the saga's
own values back and silently keep the change.

The restore is field by field and all-or-nothing:
- the field still holds the saga's value: restore its before-value;
- it holds the before-value: already restored (a rerun), nothing to do;
- it holds anything else: somebody else changed it after the saga. Then nothing is written, and
  `CompensationConflict` names every such field with the expected and current values.
The restore marks the stamp as undone (`"u"`: compensation key), so a rerun that has no forward
result still recognises the step and reports `compensated` again.
"""

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.hubspot.actions.keyed import PROPERTY_NAME, RESERVED, SINGULAR, UNDO_PROPERTY, normalized
from pivot.providers.hubspot.client import HubSpotClient

MAX_STAMP_CHARS = 65_000
"""HubSpot string properties hold 65,536 characters; a larger before-image cannot ride along."""


class UpdatePropertiesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object_type: Literal["contacts", "deals"]
    object_id: str = Field(pattern=r"^\d{1,20}$")
    properties: dict[str, str | None] = Field(min_length=1, max_length=50,
                                              description="name -> new value; null or \"\" clears it")

    @field_validator("properties")
    @classmethod
    def _writable(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for name, item in value.items():
            if not re.fullmatch(PROPERTY_NAME, name) or name in RESERVED:
                raise ValueError(f"property {name!r} cannot be written by a saga step")
            if item is not None and len(item) > 1000:
                raise ValueError(f"property {name!r}: at most 1000 characters")
        return value

    def after(self) -> dict[str, str | None]:
        return {name: normalized(name, value) for name, value in self.properties.items()}


def _stamp_of(properties: dict[str, Any]) -> dict[str, Any]:
    try:
        stamp = json.loads(properties.get(UNDO_PROPERTY) or "{}")
    except json.JSONDecodeError:
        return {}
    return stamp if isinstance(stamp, dict) else {}


class UpdateActions:
    def __init__(self, client: HubSpotClient):
        self.client = client

    async def _read(self, params: UpdatePropertiesParams) -> dict[str, Any] | None:
        record = await self.client.get_object(params.object_type, params.object_id,
                                              properties=[*params.properties, UNDO_PROPERTY])
        return None if record is None else dict(record.get("properties") or {})

    def _ref(self, params: UpdatePropertiesParams) -> str:
        return f"hubspot:{SINGULAR[params.object_type]}/{params.object_id}"

    async def update_properties(self, params: UpdatePropertiesParams, keys: StepKeys) -> JsonDict:
        current = await self._read(params)
        if current is None:
            raise ProviderRejected("object_not_found", f"HubSpot has no live {self._ref(params)}")
        stamp = _stamp_of(current)
        if stamp.get("k") == keys.forward:
            before = {name: stamp.get("b", {}).get(name) for name in params.properties}  # our write landed
        else:
            before = {name: normalized(name, current.get(name)) for name in params.properties}
            text = json.dumps({"k": keys.forward, "b": before}, separators=(",", ":"))
            if len(text) > MAX_STAMP_CHARS:
                raise ProviderRejected("before_image_too_large", "the properties' current values are too large to "
                                       "keep for an undo; refusing to write what could not be restored")
            written = {name: value or "" for name, value in params.properties.items()}
            await self.client.update_object(params.object_type, params.object_id, {**written, UNDO_PROPERTY: text})
        fresh = await self._read(params)
        after = params.after()
        actual = {name: normalized(name, (fresh or {}).get(name)) for name in params.properties}
        if fresh is None or actual != after or _stamp_of(fresh).get("k") != keys.forward:
            raise ProviderRejected("readback_mismatch", f"HubSpot {self._ref(params)} does not show the update",
                                   {"expected": after, "actual": actual})
        return {"ref": self._ref(params), "object_type": params.object_type, "id": params.object_id,
                "before": before, "after": after}

    async def restore_properties(
        self, params: UpdatePropertiesParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        current = await self._read(params)
        if current is None:
            raise CompensationConflict(f"HubSpot {self._ref(params)} was archived or deleted after the saga updated "
                                       "it; there is nothing to restore into", expected=params.after(), current=None)
        stamp = _stamp_of(current)
        if result is not None:
            before: dict[str, Any] = dict(result["before"])
        elif stamp.get("k") == keys.forward:
            before = dict(stamp.get("b") or {})
        else:
            return CompensationReport(state="nothing_to_undo",
                                      detail=f"HubSpot {self._ref(params)} shows no update by this step")
        after = params.after()
        restore: dict[str, str | None] = {}
        conflicts: dict[str, tuple[str | None, str | None]] = {}
        for name, saga_value in after.items():
            now, was = normalized(name, current.get(name)), before.get(name)
            if was == saga_value or now == was:
                continue  # the update changed nothing here, or it is already restored
            if now == saga_value:
                restore[name] = was
            else:
                conflicts[name] = (saga_value, now)
        if conflicts:
            raise CompensationConflict(
                f"someone changed {', '.join(sorted(conflicts))} of HubSpot {self._ref(params)} after the saga; "
                "nothing was restored",
                expected={name: pair[0] for name, pair in conflicts.items()},
                current={name: pair[1] for name, pair in conflicts.items()},
            )
        if not restore:
            return CompensationReport(state="compensated", detail=f"HubSpot {self._ref(params)} is already restored")
        marker = {**stamp, "u": keys.compensation} if stamp.get("k") == keys.forward else None
        update = {name: value or "" for name, value in restore.items()}
        if marker is not None:
            update[UNDO_PROPERTY] = json.dumps(marker, separators=(",", ":"))
        await self.client.update_object(params.object_type, params.object_id, update)
        fresh = await self._read(params) or {}
        if any(normalized(name, fresh.get(name)) != value for name, value in restore.items()):
            raise ProviderRejected("readback_mismatch", f"HubSpot {self._ref(params)} does not show the restore",
                                   {"expected": restore})
        return CompensationReport(state="compensated",
                                  detail=f"restored {', '.join(sorted(restore))} of HubSpot {self._ref(params)}")
