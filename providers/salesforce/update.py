"""`salesforce.update_record`: change some fields of an existing record, undone by restoring them.

Salesforce has no idempotency key for an update and nowhere general to park a before-image on
the record, so the before-image travels in the verified result, and the forward is made
idempotent by comparing values instead of carrying a key:

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
checked first, then one PATCH). A field already back at its before value needs nothing, so a
second run after a crash reports `compensated` without a second write.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD, Fields, RecordId, SObjectName, check_writable
from pivot.providers.salesforce.records import read_and_verify, record_ref
from pivot.providers.salesforce.values import current_values, differing, same_value

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


def _names(fields: list[str]) -> str:
    return ", ".join(fields)


class UpdateRecord:
    def __init__(self, client: SalesforceClient):
        self.client = client

    async def _read(self, sobject: str, record_id: str, names: list[str]) -> dict[str, Any] | None:
        return await self.client.get_record(sobject, record_id, ["Id", *names])

    async def forward(self, params: UpdateRecordParams, keys: StepKeys) -> JsonDict:
        planned = dict(params.fields)
        record = await self._read(params.sobject, params.id, list(planned))
        if record is None:
            raise ProviderRejected("not_found", f"Salesforce holds no {params.sobject} {params.id}")
        before = differing(planned, record)
        if before:
            await self.client.update(params.sobject, params.id, {name: planned[name] for name in before})
            unchanged, unknown = [name for name in planned if name not in before], []
        else:
            unchanged, unknown = [], list(planned)
        after = await read_and_verify(self.client, params.sobject, params.id, planned)
        return {
            "ref": record_ref(params.sobject, params.id),
            "id": params.id,
            "sobject": params.sobject,
            "before": before,
            "after": after,
            "unchanged": unchanged,
            "before_unknown": unknown,
        }

    async def compensate(
        self, params: UpdateRecordParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        if result is None:
            return await self._compensate_unverified(params)
        sobject, record_id = params.sobject, params.id
        before: dict[str, Any] = dict(result.get("before") or {})
        unknown: list[str] = list(result.get("before_unknown") or [])
        after: dict[str, Any] = dict(result.get("after") or {})
        if not before and not unknown:
            return CompensationReport(state="nothing_to_undo", detail=f"the update of {sobject} {record_id} "
                                      "changed no field")
        names = [*before, *unknown]
        record = await self._read(sobject, record_id, names)
        if record is None:
            raise CompensationConflict(
                f"Salesforce {sobject} {record_id} was deleted after this step updated it; nothing was restored",
                expected={name: after.get(name) for name in names}, current=None,
            )
        current = current_values(dict.fromkeys(names), record)
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
        if not restore:
            return CompensationReport(state="compensated", detail=f"Salesforce {sobject} {record_id} already holds "
                                      f"its earlier {_names(list(before))}")
        await self.client.update(sobject, record_id, restore)
        await read_and_verify(self.client, sobject, record_id, restore)
        return CompensationReport(state="compensated",
                                  detail=f"Salesforce {sobject} {record_id}: {_names(list(restore))} restored")

    async def _compensate_unverified(self, params: UpdateRecordParams) -> CompensationReport:
        """The forward never returned a result, so there is no before-image. If no planned field holds
        its planned value, nothing of this step is on the record; if one does, Pivot cannot tell
        whether this step wrote it, so it reports a conflict instead of guessing."""
        sobject, record_id, planned = params.sobject, params.id, dict(params.fields)
        try:
            record = await self._read(sobject, record_id, list(planned))
        except ProviderRejected as exc:
            if exc.info.code in _FIELD_ERRORS:
                return CompensationReport(state="nothing_to_undo", detail=f"the update of {sobject} {record_id} "
                                          f"could not have been applied ({exc.info.message})")
            raise
        if record is None:
            return CompensationReport(state="nothing_to_undo", detail=f"Salesforce holds no {sobject} {record_id}")
        current = current_values(planned, record)
        held = [name for name in planned if same_value(planned[name], current[name])]
        if not held:
            return CompensationReport(state="nothing_to_undo", detail=f"Salesforce {sobject} {record_id} holds none "
                                      "of the values this step would have written")
        raise CompensationConflict(
            f"the update of Salesforce {sobject} {record_id} did not finish and {_names(held)} hold the values it "
            "writes; Pivot cannot tell whether this step wrote them, so nothing was restored",
            expected={name: planned[name] for name in held}, current={name: current[name] for name in held},
        )
