"""`salesforce.create_records_atomic`: up to 200 records in one allOrNone transaction, one step.

Record i carries the sub-key `keys.sub(str(i))` in the key field. Because the write is a single
`allOrNone: true` request, the group lands whole or not at all, which makes the lookup simple and
the replay safe:

- Lookup: one SOQL query per sObject type for the group's sub-keys. All found: the group landed
  (a replay after a lost answer) and nothing is written. None found: write. Some found: someone
  deleted part of the group afterwards; that is terminal, and the compensation removes the rest.
- Write, one type: the upsert collection `PATCH /composite/sobjects/{Type}/{key field}`, which is
  idempotent even if a lost request lands after our lookup (it updates instead of duplicating).
  Several types: `POST /composite/sobjects` (an upsert collection takes one type only); a lost
  request landing late then collides on the Unique key field (`DUPLICATE_VALUE`), the whole
  request rolls back, and a second lookup finds the group that landed.
- Read-back: `GET /composite/sobjects/{Type}?ids=…&fields=…`, every field of every record verified.

An allOrNone failure is terminal with every record's errors in the detail; nothing was created,
so the compensation finds nothing. The compensation deletes what the lookup finds in one
`DELETE /composite/sobjects?ids=…&allOrNone=false`: there, allOrNone=false is deliberate, so a
record someone already deleted does not stop the others from being deleted.
"""

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.providers.salesforce.client import MAX_COLLECTION, TRANSIENT_CODES, SalesforceClient, parse_errors
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD, Fields, KeyField, SObjectName, check_writable
from pivot.providers.salesforce.values import current_values, differing, field_of

MAX_TYPES = 10
"""sObject Collections process a mixed-type request in chunks per type, at most ten of them."""
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
"""Delete errors meaning the record is already gone, which is what the compensation wants."""


class GroupRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    fields: Fields


class CreateRecordsAtomicParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[GroupRecord] = Field(min_length=1, max_length=MAX_COLLECTION)
    key_field: KeyField = DEFAULT_KEY_FIELD

    @model_validator(mode="after")
    def _writable(self) -> "CreateRecordsAtomicParams":
        for record in self.records:
            check_writable(record.fields, self.key_field)
        if len(self.by_type()) > MAX_TYPES:
            raise ValueError(f"one atomic group takes records of at most {MAX_TYPES} sObject types")
        return self

    def by_type(self) -> dict[str, list[int]]:
        """Record indexes per sObject type, in plan order."""
        groups: dict[str, list[int]] = {}
        for index, record in enumerate(self.records):
            groups.setdefault(record.sobject, []).append(index)
        return groups


def group_ref(params: CreateRecordsAtomicParams, ids: list[str]) -> str:
    types = {record.sobject for record in params.records}
    head = f"salesforce:{types.pop() if len(types) == 1 else 'records'}/{ids[0]}"
    return head if len(ids) == 1 else f"{head}+{len(ids) - 1}"


def type_counts(records: list[dict[str, Any]]) -> str:
    """"2 Contact, 1 Account" for a sentence."""
    return ", ".join(f"{n} {sobject}" for sobject, n in Counter(str(r["sobject"]) for r in records).items())


class CreateRecordsAtomic:
    def __init__(self, client: SalesforceClient):
        self.client = client

    async def _find(
        self, params: CreateRecordsAtomicParams, keys: StepKeys, *, include_deleted: bool = False
    ) -> dict[int, dict[str, Any]]:
        """The group's records by index, found by their sub-keys (live ones win over deleted ones)."""
        found: dict[int, dict[str, Any]] = {}
        for sobject, indexes in params.by_type().items():
            index_of = {keys.sub(str(i)): i for i in indexes}
            rows = await self.client.find_by_values(sobject, params.key_field, list(index_of),
                                                    include_deleted=include_deleted)
            for row in rows:
                index = index_of.get(str(field_of(row, params.key_field)))
                if index is not None and (index not in found or row.get("IsDeleted") is not True):
                    found[index] = row
        return found

    async def forward(self, params: CreateRecordsAtomicParams, keys: StepKeys) -> JsonDict:
        count = len(params.records)
        found = await self._find(params, keys)
        if not found:
            ids = await self._write(params, keys)
        elif len(found) == count:
            ids = [str(found[i]["Id"]) for i in range(count)]
        else:
            raise ProviderRejected(
                "group_incomplete",
                f"only {len(found)} of the {count} Salesforce records of this step exist; the group is not whole",
                {"present": sorted(found)},
            )
        records = await self._verify(params, keys, ids)
        return {"ref": group_ref(params, ids), "count": count, "ids": ids, "records": records}

    async def _write(self, params: CreateRecordsAtomicParams, keys: StepKeys) -> list[str]:
        bodies = [
            {"attributes": {"type": record.sobject}, **record.fields, params.key_field: keys.sub(str(index))}
            for index, record in enumerate(params.records)
        ]
        types = params.by_type()
        if len(types) == 1:
            results = await self.client.upsert_collection(next(iter(types)), params.key_field, bodies)
        else:
            results = await self.client.create_collection(bodies)
        if all(result.get("success") is True and isinstance(result.get("id"), str) for result in results):
            return [str(result["id"]) for result in results]
        return await self._failed(params, keys, results)

    async def _failed(
        self, params: CreateRecordsAtomicParams, keys: StepKeys, results: list[dict[str, Any]]
    ) -> list[str]:
        """allOrNone rolled everything back. Say why, per record; unless a concurrent attempt of this
        same step is why (its records took the sub-keys first), in which case that group is ours."""
        per_record = []
        causes = []
        for index, (record, result) in enumerate(zip(params.records, results, strict=True)):
            errors = parse_errors(result.get("errors"))
            per_record.append({"index": index, "sobject": record.sobject, "success": False,
                               "errors": [error.to_json() for error in errors]})
            causes += [(index, record.sobject, error) for error in errors if error.code != ROLLED_BACK]
        if not causes:
            raise ProviderRejected("bad_response", "Salesforce rolled the group back without naming a cause",
                                   {"records": per_record})
        codes = {error.code for _, _, error in causes}
        if codes & TRANSIENT_CODES:
            raise ProviderUnavailable(f"Salesforce refused the group for now ({', '.join(sorted(codes))})")
        if "DUPLICATE_VALUE" in codes:
            found = await self._find(params, keys)
            if len(found) == len(params.records):
                return [str(found[i]["Id"]) for i in range(len(params.records))]
        index, sobject, first = causes[0]
        raise ProviderRejected(
            first.code.lower(),
            f"Salesforce created none of the {len(params.records)} records (allOrNone): record {index} "
            f"({sobject}) failed with {first.code}: {first.message}"
            + (f" and {len(causes) - 1} more errors" if len(causes) > 1 else ""),
            {"records": per_record},
        )

    async def _verify(self, params: CreateRecordsAtomicParams, keys: StepKeys, ids: list[str]) -> list[JsonDict]:
        verified: dict[int, JsonDict] = {}
        mismatches = []
        for sobject, indexes in params.by_type().items():
            names = list(dict.fromkeys(name for i in indexes for name in params.records[i].fields))
            rows = await self.client.read_collection(sobject, [ids[i] for i in indexes],
                                                     ["Id", params.key_field, *names])
            for index, row in zip(indexes, rows, strict=True):
                planned = dict(params.records[index].fields)
                expected = {**planned, params.key_field: keys.sub(str(index))}
                wrong = differing(expected, row) if row is not None else {"Id": None}
                if wrong:
                    mismatches.append({"index": index, "id": ids[index], "actual": wrong,
                                       "expected": {name: expected.get(name) for name in wrong}})
                else:
                    assert row is not None
                    verified[index] = {"sobject": sobject, "id": ids[index], "fields": current_values(planned, row)}
        if mismatches:
            raise ProviderRejected("readback_mismatch",
                                   f"{len(mismatches)} Salesforce records of the group do not hold what was written",
                                   {"records": mismatches})
        return [verified[i] for i in range(len(ids))]

    async def compensate(
        self, params: CreateRecordsAtomicParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        count = len(params.records)
        found = await self._find(params, keys)
        if found:
            ids = [str(found[i]["Id"]) for i in sorted(found)]
            outcomes = await self.client.delete_collection(ids)
            failures = [(record_id, parse_errors(outcome.get("errors")))
                        for record_id, outcome in zip(ids, outcomes, strict=True) if outcome.get("success") is not True]
            failures = [(record_id, errors) for record_id, errors in failures
                        if not errors or any(error.code not in GONE for error in errors)]
            if failures:
                codes = {error.code for _, errors in failures for error in errors}
                detail = {"failed": [{"id": record_id, "errors": [e.to_json() for e in errors]}
                                     for record_id, errors in failures]}
                if codes & TRANSIENT_CODES:
                    raise ProviderUnavailable(f"Salesforce could not delete {len(failures)} records for now")
                raise ProviderRejected("delete_failed", f"Salesforce refused to delete {len(failures)} of the "
                                       f"{count} records of this step", detail)
            gone = count - len(found)
            return CompensationReport(
                state="compensated",
                detail=f"deleted {len(found)} Salesforce records of this step"
                + (f" ({gone} were already gone)" if gone else ""),
            )
        if await self._find(params, keys, include_deleted=True):
            return CompensationReport(state="compensated",
                                      detail=f"the {count} Salesforce records of this step are already deleted")
        return CompensationReport(state="nothing_to_undo", detail="Salesforce holds no record of this step")
