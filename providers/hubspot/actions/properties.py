"""update_properties: set properties of an existing contact or deal; undone by a conditional restore.

The before-image travels with the write. The PATCH that changes the properties also sets the
`pivot_undo` property to `{"k": step key, "b": {name: value before}}`, atomically, in the same
request. That settles the lost-answer replay: when the answer to the PATCH is lost and the step
runs again, its re-read already shows the saga's values, which must not be taken for the
before-image. The lookup finds the step's own key in `pivot_undo` and the before-image is taken
from there, writing nothing. Without the stamp, a restore after such a replay would put the
saga's own values back and silently keep the change.

The restore is field by field and all-or-nothing:
- the field still holds the saga's value: restore its before-value;
- it holds the before-value: already restored (a rerun), nothing to do;
- it holds anything else: somebody else changed it after the saga. Then nothing is written, and
  `CompensationConflict` names every such field with the expected and current values.
The restore marks the stamp as undone (`"u"`: compensation key), so a rerun that has no forward
result still recognises the step, and reports `compensated` again without writing.
When the stamp is no longer the step's (another step stamped the record since), the verified
result's before-image is restored under the same rule; a record archived or deleted since is a
conflict: there is nothing to restore into.
"""

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.hubspot.actions.keyed import (
    PROPERTY_NAME,
    RESERVED,
    SINGULAR,
    UNDO_PROPERTY,
    HubSpotAction,
    normalized,
    unique_email,
)

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

    def ref(self) -> str:
        return f"hubspot:{SINGULAR[self.object_type]}/{self.object_id}"


@dataclass(frozen=True)
class Record:
    """A contact's or deal's current properties (the step's and `pivot_undo`), as an update sees them."""

    ref: str
    properties: dict[str, Any]

    @property
    def stamp(self) -> dict[str, Any]:
        try:
            stamp = json.loads(self.properties.get(UNDO_PROPERTY) or "{}")
        except json.JSONDecodeError:
            return {}
        return stamp if isinstance(stamp, dict) else {}


class UpdateProperties(HubSpotAction[UpdatePropertiesParams, Record]):
    name: ClassVar[str] = "hubspot.update_properties"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = UpdatePropertiesParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"properties.{UNDO_PROPERTY}", f"property '{UNDO_PROPERTY}' = {{step key, before-image}}, written in the same "
        "PATCH as the change and read before writing (a retry after a lost answer finds its own stamp)")
    readback: ClassVar[str] = "GET /crm/v3/objects/{type}/{id}: every written property and the stamp's key"
    compensation: ClassVar[str] = (
        "restore the before-image only where the field still holds the saga's value (already restored counts as "
        "done); any field changed by someone else: CompensationConflict, nothing written")
    not_run: ClassVar[str] = "No HubSpot record was updated"

    async def _read(self, params: UpdatePropertiesParams) -> Record | None:
        record = await self.client.get_object(params.object_type, params.object_id,
                                              properties=[*params.properties, UNDO_PROPERTY])
        return None if record is None else Record(params.ref(), dict(record.get("properties") or {}))

    async def lookup(self, params: UpdatePropertiesParams, key: str) -> Record | None:
        """The record while its stamp is this step's: the update by its key."""
        record = await self._read(params)
        return record if record is not None and record.stamp.get("k") == key else None

    async def write(self, params: UpdatePropertiesParams, key: str) -> Record:
        current = await self._read(params)
        if current is None:
            raise ProviderRejected("object_not_found", f"HubSpot has no live {params.ref()}")
        if current.stamp.get("k") == key:
            return current  # our write landed (a lookup skipped on a proven first write cannot get here)
        before = {name: normalized(name, current.properties.get(name)) for name in params.properties}
        text = json.dumps({"k": key, "b": before}, separators=(",", ":"))
        if len(text) > MAX_STAMP_CHARS:
            raise ProviderRejected("before_image_too_large", "the properties' current values are too large to "
                                   "keep for an undo; refusing to write what could not be restored")
        written = {name: value or "" for name, value in params.properties.items()}
        await self.client.update_object(params.object_type, params.object_id, {**written, UNDO_PROPERTY: text})
        return current

    def verify(self, params: UpdatePropertiesParams, fresh: Record) -> JsonDict:
        after = params.after()
        actual = {name: normalized(name, fresh.properties.get(name)) for name in params.properties}
        if actual != after:
            raise Mismatch(f"HubSpot {params.ref()} does not show the update", expected=after, actual=actual)
        stamped = fresh.stamp.get("b") or {}
        before = {name: stamped.get(name) for name in params.properties}
        return {"ref": params.ref(), "object_type": params.object_type, "id": params.object_id,
                "before": before, "after": after}

    def describe(self, result: JsonDict) -> str:
        return f"HubSpot {result['ref'].split(':', 1)[1]} was updated ({', '.join(sorted(result['after']))})"

    def describe_undo(self, result: JsonDict) -> str:
        return f"HubSpot {result['ref'].split(':', 1)[1]} was restored"

    def is_undone(self, found: Record) -> bool:
        return "u" in found.stamp

    def already_undone(self, found: Record) -> str:
        return f"HubSpot {found.ref} is already restored"

    async def undo(self, params: UpdatePropertiesParams, found: Record, result: JsonDict | None, key: str) -> str:
        before = dict(result["before"]) if result is not None else dict(found.stamp.get("b") or {})
        return await self._restore(params, found, before, undo_key=key)

    async def not_found(self, params: UpdatePropertiesParams, result: JsonDict | None,
                        key: str) -> CompensationReport:
        current = await self._read(params)
        if current is None:
            raise CompensationConflict(f"HubSpot {params.ref()} was archived or deleted after the saga updated "
                                       "it; there is nothing to restore into", expected=params.after(), current=None)
        if result is None:
            return CompensationReport(state="nothing_to_undo",
                                      detail=f"HubSpot {params.ref()} shows no update by this step")
        detail = await self._restore(params, current, dict(result["before"]), undo_key=None)
        return CompensationReport(state="compensated", detail=detail)

    async def _restore(self, params: UpdatePropertiesParams, current: Record, before: dict[str, Any],
                       undo_key: str | None) -> str:
        """Put `before` back where the record still holds the saga's values (else a conflict, nothing
        written); `undo_key` marks the step's own stamp as undone in the same PATCH."""
        after = params.after()
        restore: dict[str, str | None] = {}
        conflicts: dict[str, tuple[str | None, str | None]] = {}
        for name, saga_value in after.items():
            now, was = normalized(name, current.properties.get(name)), before.get(name)
            if was == saga_value or now == was:
                continue  # the update changed nothing here, or it is already restored
            if now == saga_value:
                restore[name] = was
            else:
                conflicts[name] = (saga_value, now)
        if conflicts:
            raise CompensationConflict(
                f"someone changed {', '.join(sorted(conflicts))} of HubSpot {params.ref()} after the saga; "
                "nothing was restored",
                expected={name: pair[0] for name, pair in conflicts.items()},
                current={name: pair[1] for name, pair in conflicts.items()},
            )
        if not restore:
            return f"HubSpot {params.ref()} is already restored"
        update = {name: value or "" for name, value in restore.items()}
        if undo_key is not None:
            update[UNDO_PROPERTY] = json.dumps({**current.stamp, "u": undo_key}, separators=(",", ":"))
        await self.client.update_object(params.object_type, params.object_id, update)
        fresh = await self._read(params)
        shown = {} if fresh is None else fresh.properties
        if any(normalized(name, shown.get(name)) != value for name, value in restore.items()):
            raise ProviderRejected("readback_mismatch", f"HubSpot {params.ref()} does not show the restore",
                                   {"expected": restore})
        return f"restored {', '.join(sorted(restore))} of HubSpot {params.ref()}"

    # -- conformance ---------------------------------------------------------------------------
    async def example(self) -> UpdatePropertiesParams:
        """A contact made for the run (as someone else would have made it), to update."""
        contact = await self.client.create_object("contacts", {"email": unique_email(), "firstname": "Ada",
                                                               "lastname": "Byron"})
        return UpdatePropertiesParams(object_type="contacts", object_id=str(contact["id"]),
                                      properties={"firstname": "Augusta", "lastname": "King"})

    async def tamper(self, params: UpdatePropertiesParams, found: Record) -> None:
        """Someone edits a field the update set (and only that: `pivot_undo` stays as it is)."""
        name = sorted(params.properties)[0]
        value = f"changed-{uuid.uuid4().hex[:8]}"
        await self.client.update_object(params.object_type, params.object_id,
                                        {name: f"{value}@example.com" if name == "email" else value})
