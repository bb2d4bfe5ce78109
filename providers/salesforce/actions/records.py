"""One record: `salesforce.create_record` (keyed by the step key) and `salesforce.upsert_record`
(keyed by the agent's business external id).

create_record. Salesforce has no idempotency header, so the step key is stored on the record, in
an External ID (Unique) text field (`Pivot_Key__c` by default). `lookup` is one SOQL query by that
field through queryAll, so it sees a record in the Recycle Bin too: an undo delivered twice finds
the record it deleted and reports it undone, not "nothing to undo". The write is an upsert by that
same external id, never a plain POST: a lost request that lands late, after a lookup that missed
it, turns our write into an update of that one record instead of a second record. The read-back
is the record by id with every planned field and the key field.

upsert_record is retryable (it runs after the pivot and has no undo): an upsert by external id is
idempotent by nature, since every attempt addresses the same record. It still looks the record up
first and writes only if some field differs, so a replay after a lost answer adds no second
effect (not even a no-op update that would bump LastModifiedDate and fire triggers again).
"""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import JsonDict
from pivot.compensations.connections import first_write
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier
from pivot.providers.salesforce.actions.base import SalesforceAction
from pivot.providers.salesforce.params import (
    DEFAULT_KEY_FIELD,
    EXTERNAL_ID_VALUE,
    Fields,
    KeyField,
    SObjectName,
    check_writable,
)
from pivot.providers.salesforce.records import check_holds, record_name, record_ref
from pivot.providers.salesforce.values import current_values, differing

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class KeyedRecord:
    """A record, or what a write answered about it (its `Id`), and the step key it was found or
    written with: `verify` compares the record's key field with `key`."""

    key: str
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def deleted(self) -> bool:
        """In the Recycle Bin (found by queryAll)."""
        return self.record.get("IsDeleted") is True


class CreateRecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    fields: Fields
    key_field: KeyField = DEFAULT_KEY_FIELD
    """The External ID (Unique) text field that carries the step key on this sObject."""

    @model_validator(mode="after")
    def _writable(self) -> "CreateRecordParams":
        check_writable(self.fields, self.key_field)
        return self


class CreateRecord(SalesforceAction[CreateRecordParams, KeyedRecord]):
    name: ClassVar[str] = "salesforce.create_record"
    idempotency = "unique"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = CreateRecordParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier(
        "path", DEFAULT_KEY_FIELD,
        f"step key in the external-id field {DEFAULT_KEY_FIELD} (External ID, Unique; `key_field` to override): "
        "looked up by it, then written as an upsert by it")
    readback: ClassVar[str] = "GET /sobjects/{Type}/{id}?fields=…: every field written, and the key field"
    compensation: ClassVar[str] = "delete (to the Recycle Bin); already deleted counts as done"
    not_run: ClassVar[str] = "No Salesforce record was created"

    async def lookup(self, params: CreateRecordParams, key: str) -> KeyedRecord | None:
        found = await self.find_all(params, key)
        live = [record for record in found if not record.deleted]
        return (live or found)[0] if found else None

    async def find_all(self, params: CreateRecordParams, key: str) -> list[KeyedRecord]:
        """Every record carrying the key, the Recycle Bin included (SOQL through queryAll)."""
        rows = await self.client.find_by_values(params.sobject, params.key_field, [key], include_deleted=True)
        return [KeyedRecord(key, row) for row in rows]

    async def write(self, params: CreateRecordParams, key: str) -> KeyedRecord:
        upserted = await self.client.upsert(params.sobject, params.key_field, key, dict(params.fields))
        return KeyedRecord(key, {"Id": upserted.id})

    async def read_back(self, params: CreateRecordParams, key: str, written: KeyedRecord) -> KeyedRecord | None:
        record = await self.client.get_record(params.sobject, written.id, ["Id", *params.fields, params.key_field])
        return None if record is None else KeyedRecord(key, record)

    def verify(self, params: CreateRecordParams, fresh: KeyedRecord) -> JsonDict:
        planned = dict(params.fields)
        check_holds(params.sobject, fresh.id, {**planned, params.key_field: fresh.key}, fresh.record)
        return {"ref": record_ref(params.sobject, fresh.id), "id": fresh.id, "sobject": params.sobject,
                "fields": current_values(planned, fresh.record)}

    def describe(self, result: JsonDict) -> str:
        return f"{record_name(result)} was created"

    def describe_undo(self, result: JsonDict) -> str:
        return f"{record_name(result)} was deleted (it is in the Recycle Bin)"

    def is_undone(self, found: KeyedRecord) -> bool:
        return found.deleted

    async def undo(self, params: CreateRecordParams, found: KeyedRecord, result: JsonDict | None, key: str) -> str:
        deleted = await self.client.delete(params.sobject, found.id)
        verb = "deleted (it is in the Recycle Bin)" if deleted else "was already deleted"
        return f"Salesforce {params.sobject} {found.id} {verb}"

    async def example(self) -> CreateRecordParams:
        return CreateRecordParams(sobject="Account", fields={"Name": f"Pivot conformance {uuid.uuid4().hex[:12]}"})


class UpsertRecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    external_id_field: KeyField
    external_id: str = Field(pattern=EXTERNAL_ID_VALUE)
    fields: Fields

    @model_validator(mode="after")
    def _writable(self) -> "UpsertRecordParams":
        check_writable(self.fields, self.external_id_field)
        return self


class UpsertRecord(SalesforceAction[UpsertRecordParams, Record]):
    name: ClassVar[str] = "salesforce.upsert_record"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.RETRYABLE
    params = UpsertRecordParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.stored(
        "external_id",
        "the agent's business external id (`external_id_field`/`external_id`): idempotent by nature; written only "
        "if a field differs")
    readback: ClassVar[str] = "GET /sobjects/{Type}/{id}?fields=…: every field written, and the external id"
    compensation: ClassVar[str] = "none: it runs after the pivot and is retried until it succeeds"
    not_run: ClassVar[str] = "No Salesforce record was upserted"

    async def lookup(self, params: UpsertRecordParams, key: str) -> Record | None:
        """The record with the business external id (the step key is not what this action carries)."""
        return await self.client.get_by_external_id(params.sobject, params.external_id_field, params.external_id,
                                                    ["Id", *params.fields])

    async def find_all(self, params: UpsertRecordParams, key: str) -> list[Record]:
        return await self.client.find_by_values(params.sobject, params.external_id_field, [params.external_id])

    async def write(self, params: UpsertRecordParams, key: str) -> Record:
        # On a first write the kit skipped the lookup; the record may exist all the same (the id is
        # the agent's, not the step's), and it is written only if a field differs.
        found = await self.lookup(params, key) if first_write() else None
        if found is not None:
            return await self.complete(params, key, found)
        upserted = await self.client.upsert(params.sobject, params.external_id_field, params.external_id,
                                            dict(params.fields))
        return {"Id": upserted.id}

    async def complete(self, params: UpsertRecordParams, key: str, found: Record) -> Record:
        """Found: it already holds every value (a replay, or nothing to change), or it is updated."""
        if not differing(dict(params.fields), found):
            return found
        upserted = await self.client.upsert(params.sobject, params.external_id_field, params.external_id,
                                            dict(params.fields))
        return {"Id": upserted.id}

    async def read_back(self, params: UpsertRecordParams, key: str, written: Record) -> Record | None:
        return await self.client.get_record(params.sobject, str(written["Id"]),
                                            ["Id", *params.fields, params.external_id_field])

    def verify(self, params: UpsertRecordParams, fresh: Record) -> JsonDict:
        planned = dict(params.fields)
        record_id = str(fresh["Id"])
        check_holds(params.sobject, record_id, {**planned, params.external_id_field: params.external_id}, fresh)
        return {
            "ref": record_ref(params.sobject, record_id),
            "id": record_id,
            "sobject": params.sobject,
            "external_id_field": params.external_id_field,
            "external_id": params.external_id,
            "fields": current_values(planned, fresh),
        }

    def describe(self, result: JsonDict) -> str:
        return f"{record_name(result)} ({result['external_id_field']}={result['external_id']}) was upserted"

    async def example(self) -> UpsertRecordParams:
        """KeyedRecord by Pivot's own External ID field, the one every configured org has."""
        token = uuid.uuid4().hex[:12]
        return UpsertRecordParams(sobject="Account", external_id_field=DEFAULT_KEY_FIELD,
                                  external_id=f"pivot-conformance-{token}",
                                  fields={"Name": f"Pivot conformance {token}"})
