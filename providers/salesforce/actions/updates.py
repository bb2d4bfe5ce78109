"""`salesforce.update_record`: change some fields of an existing record, undone by restoring them.

Salesforce has no idempotency key for an update and nowhere general to park a before-image on
the record, so the before-image travels in the verified result, and the forward is made
idempotent by comparing values instead of carrying a key. In the kit's terms `lookup` is the
record itself (by its id: there is no key to find it by), and the write always "completes" it:

1. Read exactly the planned fields. The fields whose value differs from the plan are the ones
   this step changes; their current values are the before-image.
2. PATCH only those fields, in one request (Salesforce applies a record's PATCH whole).
3. Read back and verify every planned field.

The hard case is a replay after a lost answer: the PATCH landed, its answer did not, and the
retry reads values that are already the saga's. Since the PATCH sets every differing field at
once, this shows as *every* planned field already holding its planned value - which is also what
a genuine no-op update looks like, and the two cannot be told apart afterwards. The forward then
writes nothing and records those fields as `before_unknown` rather than guessing a before-image
(guessing "it was already so" could leave the saga's write in place after an unwind). When only
some fields already hold their planned values, no PATCH of this step can have landed, so those
are `unchanged`: not written, and left alone by the compensation.

Compensation (no isolation between sagas): read the fields again; restore a field only if it
still holds what the saga wrote; a field someone else changed, or whose before-image is unknown,
is a `CompensationConflict` that names both values and changes nothing at all (all fields are
checked first, then one PATCH). Fields already back at their before values are undone, so a
second run after a crash reports `compensated` without a second write. Without a verified
result there is no before-image: nothing to undo when no planned field holds its planned value,
a conflict when one does (Pivot cannot tell whether this step wrote it).
"""

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from pivot.compensations.actions import JsonDict
from pivot.compensations.connections import first_write
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier
from pivot.providers.salesforce.actions.base import SalesforceAction
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD, Fields, RecordId, SObjectName, check_writable
from pivot.providers.salesforce.records import check_holds, read_and_check, record_name, record_ref
from pivot.providers.salesforce.values import current_values, differing, field_of, same_value

_FIELD_ERRORS = frozenset({"invalid_field", "invalid_field_for_insert_update", "invalid_type"})
"""Read errors that prove the PATCH of these fields could never have been applied either."""


class UpdateRecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    id: RecordId
    fields: Fields

    @model_validator(mode="after")
    def _writable(self) -> "UpdateRecordParams":
        check_writable(self.fields, DEFAULT_KEY_FIELD)
        return self


@dataclass(frozen=True, slots=True)
class Touched:
    """The record as read (None: deleted after the step updated it), and what the step did to it:
    the fields it changed with their earlier values (`before`) and the values it wrote (`after`,
    known to an undo from the verified result), the fields that already held the plan's values
    (`unchanged`), and those whose earlier values are unknown (`unknown`: a replay)."""

    record: dict[str, Any] | None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _names(fields: list[str]) -> str:
    return ", ".join(fields)


def _changed(result: JsonDict) -> str:
    names = [*(result.get("before") or {}), *(result.get("before_unknown") or [])]
    return f" ({', '.join(names)})" if names else ""


def _edited(value: Any) -> Any:
    """Another value of the same kind, as a person editing the field would leave it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value or ''} (edited by someone else)".strip()


class UpdateRecord(SalesforceAction[UpdateRecordParams, Touched]):
    name: ClassVar[str] = "salesforce.update_record"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = UpdateRecordParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.stored(
        "none",
        "none on the record (Salesforce has no update key): only fields that differ from the plan are written, so a "
        "replay writes nothing; the before-image travels in the verified result")
    readback: ClassVar[str] = "GET /sobjects/{Type}/{id}?fields=…: every planned field"
    compensation: ClassVar[str] = (
        "restore each changed field if it still holds the saga's value; a field someone else changed, or whose "
        "earlier value is unknown, is a conflict and nothing is restored")
    not_run: ClassVar[str] = "No Salesforce record was updated"

    async def _read(self, params: UpdateRecordParams, names: list[str]) -> dict[str, Any] | None:
        return await self.client.get_record(params.sobject, params.id, ["Id", *names])

    async def lookup(self, params: UpdateRecordParams, key: str) -> Touched | None:
        """The record the step updates, by its id, with the planned fields."""
        record = await self._read(params, list(params.fields))
        return None if record is None else Touched(record)

    async def write(self, params: UpdateRecordParams, key: str) -> Touched:
        # Reached on a first write (the kit skipped the lookup: read it now) or when it found nothing.
        found = await self.lookup(params, key) if first_write() else None
        if found is None:
            raise ProviderRejected("not_found", f"Salesforce holds no {params.sobject} {params.id}")
        return await self.complete(params, key, found)

    async def complete(self, params: UpdateRecordParams, key: str, found: Touched) -> Touched:
        """PATCH the fields that differ from the plan, in one request; none differing is a replay."""
        assert found.record is not None
        planned = dict(params.fields)
        before = differing(planned, found.record)
        if not before:
            return Touched(found.record, unknown=list(planned))
        await self.client.update(params.sobject, params.id, {name: planned[name] for name in before})
        return Touched(found.record, before=before, unchanged=[name for name in planned if name not in before])

    async def read_back(self, params: UpdateRecordParams, key: str, written: Touched) -> Touched | None:
        record = await self._read(params, list(params.fields))
        return None if record is None else Touched(record, written.before, {}, written.unchanged, written.unknown)

    def verify(self, params: UpdateRecordParams, fresh: Touched) -> JsonDict:
        assert fresh.record is not None
        planned = dict(params.fields)
        check_holds(params.sobject, params.id, planned, fresh.record)
        return {
            "ref": record_ref(params.sobject, params.id),
            "id": params.id,
            "sobject": params.sobject,
            "before": fresh.before,
            "after": current_values(planned, fresh.record),
            "unchanged": fresh.unchanged,
            "before_unknown": fresh.unknown,
        }

    def describe(self, result: JsonDict) -> str:
        return f"{record_name(result)} was updated{_changed(result)}"

    def describe_undo(self, result: JsonDict) -> str:
        return f"{record_name(result)} got its earlier values back{_changed(result)}"

    # -- the undo, from the verified before-image --------------------------------------------------

    async def recall(
        self, params: UpdateRecordParams, key: str, result: JsonDict | None
    ) -> Touched | None:
        """The fields the step changed, read again (None: nothing of this step is on the record)."""
        if result is None:
            return await self._unverified(params)
        before: dict[str, Any] = dict(result.get("before") or {})
        unknown: list[str] = list(result.get("before_unknown") or [])
        if not before and not unknown:
            return None  # the update changed no field
        record = await self._read(params, [*before, *unknown])
        return Touched(record, before=before, after=dict(result.get("after") or {}), unknown=unknown)

    async def _unverified(self, params: UpdateRecordParams) -> Touched | None:
        """The forward never returned a result: is any planned value on the record at all?"""
        try:
            record = await self._read(params, list(params.fields))
        except ProviderRejected as exc:
            if exc.info.code in _FIELD_ERRORS:
                return None  # the PATCH of these fields could never have been applied
            raise
        if record is None:
            return None
        current = current_values(dict(params.fields), record)
        if not any(same_value(value, current[name]) for name, value in params.fields.items()):
            return None
        return Touched(record)

    def is_undone(self, found: Touched) -> bool:
        """Every changed field is back at its earlier value (an earlier delivery restored them)."""
        record = found.record
        return (record is not None and bool(found.before) and not found.unknown
                and all(same_value(value, field_of(record, name)) for name, value in found.before.items()))

    async def undo(self, params: UpdateRecordParams, found: Touched, result: JsonDict | None, key: str) -> str:
        sobject, record_id = params.sobject, params.id
        if result is None:
            planned = dict(params.fields)
            current = current_values(planned, found.record or {})
            held = [name for name in planned if same_value(planned[name], current[name])]
            raise CompensationConflict(
                f"the update of Salesforce {sobject} {record_id} did not finish and {_names(held)} hold the values it "
                "writes; Pivot cannot tell whether this step wrote them, so nothing was restored",
                expected={name: planned[name] for name in held}, current={name: current[name] for name in held},
            )
        before, after, unknown = found.before, found.after, found.unknown
        names = [*before, *unknown]
        if found.record is None:
            raise CompensationConflict(
                f"Salesforce {sobject} {record_id} was deleted after this step updated it; nothing was restored",
                expected={name: after.get(name) for name in names}, current=None,
            )
        current = current_values(dict.fromkeys(names), found.record)
        if unknown:
            raise CompensationConflict(
                f"Salesforce {sobject} {record_id}: {_names(unknown)} already held the values this step writes "
                "when it ran (or an earlier attempt wrote them and its answer was lost), so their earlier values "
                "are unknown; nothing was restored",
                expected={name: after.get(name) for name in unknown}, current={name: current[name] for name in unknown},
            )
        theirs = [name for name in before
                  if not same_value(after.get(name), current[name]) and not same_value(before[name], current[name])]
        if theirs:
            raise CompensationConflict(
                f"Salesforce {sobject} {record_id}: {_names(theirs)} changed after this step wrote "
                f"{'it' if len(theirs) == 1 else 'them'}; nothing was restored",
                expected={name: after.get(name) for name in theirs}, current={name: current[name] for name in theirs},
            )
        restore = {name: before[name] for name in before if same_value(after.get(name), current[name])}
        await self.client.update(sobject, record_id, restore)
        await read_and_check(self.client, sobject, record_id, restore)
        return f"Salesforce {sobject} {record_id}: {_names(list(restore))} restored"

    # -- for `pivot conformance` ---------------------------------------------------------------------

    async def example(self) -> UpdateRecordParams:
        """An Account of its own to update (created without a key: it is the update's object, not its
        effect)."""
        token = uuid.uuid4().hex[:12]
        record_id = await self.client.create("Account", {"Name": f"Pivot conformance {token}",
                                                         "Description": "before the update"})
        return UpdateRecordParams(sobject="Account", id=record_id,
                                  fields={"Description": f"updated by Pivot conformance {token}"})

    async def tamper(self, params: UpdateRecordParams, found: Touched) -> None:
        """Someone edits a field the update set, as a person would in the record page."""
        name, value = next(iter(params.fields.items()))
        await self.client.update(params.sobject, params.id, {name: _edited(value)})
