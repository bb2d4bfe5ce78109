"""`salesforce.create_records_atomic`: up to 200 records in one allOrNone transaction, one step.

Record i carries the sub-key `<step key>:<i>` (`StepKeys.sub`) in the key field. Because the write
is a single `allOrNone: true` request, the group lands whole or not at all, which makes the
lookup simple and the replay safe. What the kit calls the found object is the group: its records
by index (`Group`).

- Lookup: one SOQL query per sObject type for the group's sub-keys, through queryAll (the Recycle
  Bin too, so an undone group is recognised). All found and live: the group landed (a replay
  after a lost answer) and nothing is written. None found: write. Some missing or deleted:
  someone deleted part of the group afterwards; that is terminal, and the compensation removes
  the rest.
- Write, one type: the upsert collection `PATCH /composite/sobjects/{Type}/{key field}`, which is
  idempotent even if a lost request lands after our lookup (it updates instead of duplicating).
  Several types: `POST /composite/sobjects` (an upsert collection takes one type only); a lost
  request landing late then collides on the Unique key field (`DUPLICATE_VALUE`), the whole
  request rolls back, and a second lookup finds the group that landed.
- Read-back: `GET /composite/sobjects/{Type}?ids=…&fields=…`, every field of every record verified.

An allOrNone failure is terminal with every record's errors in the detail; nothing was created,
so the compensation finds nothing. The compensation deletes the live records in one
`DELETE /composite/sobjects?ids=…&allOrNone=false`: there, allOrNone=false is deliberate, so a
record someone already deleted does not stop the others from being deleted.
"""

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import sub_key
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.salesforce.actions.base import SalesforceAction
from pivot.providers.salesforce.client import MAX_COLLECTION, TRANSIENT_CODES, parse_errors
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD, Fields, KeyField, SObjectName, check_writable
from pivot.providers.salesforce.values import current_values, differing, field_of

MAX_TYPES = 10
"""sObject Collections process a mixed-type request in chunks per type, at most ten of them."""
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
"""Delete errors meaning the record is already gone, which is what the compensation wants."""

Row = dict[str, Any]


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


@dataclass(frozen=True, slots=True)
class Group:
    """The records of one group by index (None: not found), and the step key whose sub-keys they
    carry (`verify` compares them)."""

    key: str
    records: tuple[Row | None, ...]

    @property
    def ids(self) -> list[str]:
        return [str(row["Id"]) for row in self.records if row is not None]

    def live(self) -> list[int]:
        """The indexes of the records that exist and are not in the Recycle Bin."""
        return [i for i, row in enumerate(self.records) if row is not None and row.get("IsDeleted") is not True]


def group_ref(params: CreateRecordsAtomicParams, ids: list[str]) -> str:
    types = {record.sobject for record in params.records}
    head = f"salesforce:{types.pop() if len(types) == 1 else 'records'}/{ids[0]}"
    return head if len(ids) == 1 else f"{head}+{len(ids) - 1}"


def type_counts(records: list[dict[str, Any]]) -> str:
    """"2 Contact, 1 Account" for a sentence."""
    return ", ".join(f"{n} {sobject}" for sobject, n in Counter(str(r["sobject"]) for r in records).items())


def _group(result: JsonDict) -> str:
    records = list(result.get("records") or [])
    return f"{len(records)} Salesforce records ({type_counts(records)}, first {records[0]['id']})"


class CreateRecordsAtomic(SalesforceAction[CreateRecordsAtomicParams, Group]):
    name: ClassVar[str] = "salesforce.create_records_atomic"
    idempotency = "unique"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = CreateRecordsAtomicParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        f"records[].{DEFAULT_KEY_FIELD}",
        f"sub-key '<step key>:<index>' in {DEFAULT_KEY_FIELD} of each record; the group is found by a SOQL lookup "
        "of its sub-keys")
    readback: ClassVar[str] = ("GET /composite/sobjects/{Type}?ids=…&fields=…: every field of every record, and "
                               "its sub-key")
    compensation: ClassVar[str] = (
        "delete every record of the group in one DELETE /composite/sobjects (allOrNone=false, so an already "
        "deleted record does not block the rest)")
    not_run: ClassVar[str] = "No Salesforce records were created"
    atomicity: ClassVar[str] = "allOrNone=true, up to 200 records (one request: all created or none)"

    async def _rows(self, params: CreateRecordsAtomicParams, key: str) -> list[list[Row]]:
        """Per index, every record carrying its sub-key (live ones first), the Recycle Bin included."""
        rows: list[list[Row]] = [[] for _ in params.records]
        for sobject, indexes in params.by_type().items():
            index_of = {sub_key(key, str(i)): i for i in indexes}
            for row in await self.client.find_by_values(sobject, params.key_field, list(index_of),
                                                        include_deleted=True):
                index = index_of.get(str(field_of(row, params.key_field)))
                if index is not None:
                    rows[index].append(row)
        return [sorted(found, key=lambda row: row.get("IsDeleted") is True) for found in rows]

    async def lookup(self, params: CreateRecordsAtomicParams, key: str) -> Group | None:
        rows = await self._rows(params, key)
        if not any(rows):
            return None
        return Group(key, tuple(found[0] if found else None for found in rows))

    async def find_all(self, params: CreateRecordsAtomicParams, key: str) -> list[Group]:
        """Every group carrying the sub-keys: one, unless some sub-key is on two records."""
        rows = await self._rows(params, key)
        return [Group(key, tuple(found[n] if n < len(found) else None for found in rows))
                for n in range(max(len(found) for found in rows))]

    async def complete(self, params: CreateRecordsAtomicParams, key: str, found: Group) -> Group:
        """Found whole: the group landed (a replay after a lost answer). Part of it: not whole, terminal."""
        live = found.live()
        if len(live) == len(params.records):
            return found
        raise ProviderRejected(
            "group_incomplete",
            f"only {len(live)} of the {len(params.records)} Salesforce records of this step exist; the group is "
            "not whole",
            {"present": live},
        )

    async def write(self, params: CreateRecordsAtomicParams, key: str) -> Group:
        bodies = [
            {"attributes": {"type": record.sobject}, **record.fields, params.key_field: sub_key(key, str(index))}
            for index, record in enumerate(params.records)
        ]
        types = params.by_type()
        if len(types) == 1:
            results = await self.client.upsert_collection(next(iter(types)), params.key_field, bodies)
        else:
            results = await self.client.create_collection(bodies)
        if all(result.get("success") is True and isinstance(result.get("id"), str) for result in results):
            return Group(key, tuple({"Id": str(result["id"])} for result in results))
        return await self._failed(params, key, results)

    async def _failed(self, params: CreateRecordsAtomicParams, key: str, results: list[Row]) -> Group:
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
            found = await self.lookup(params, key)
            if found is not None and len(found.live()) == len(params.records):
                return found
        index, sobject, first = causes[0]
        raise ProviderRejected(
            first.code.lower(),
            f"Salesforce created none of the {len(params.records)} records (allOrNone): record {index} "
            f"({sobject}) failed with {first.code}: {first.message}"
            + (f" and {len(causes) - 1} more errors" if len(causes) > 1 else ""),
            {"records": per_record},
        )

    async def read_back(self, params: CreateRecordsAtomicParams, key: str, written: Group) -> Group:
        ids = written.ids
        rows: dict[int, Row | None] = {}
        for sobject, indexes in params.by_type().items():
            names = list(dict.fromkeys(name for i in indexes for name in params.records[i].fields))
            read = await self.client.read_collection(sobject, [ids[i] for i in indexes],
                                                     ["Id", params.key_field, *names])
            rows.update(zip(indexes, read, strict=True))
        return Group(key, tuple(rows[i] if rows[i] is not None else {"Id": ids[i], "missing": True}
                                for i in range(len(ids))))

    def verify(self, params: CreateRecordsAtomicParams, fresh: Group) -> JsonDict:
        verified: list[JsonDict] = []
        expected_wrong: list[JsonDict] = []
        actual_wrong: list[JsonDict] = []
        for index, (record, row) in enumerate(zip(params.records, fresh.records, strict=True)):
            assert row is not None
            planned = dict(record.fields)
            expected = {**planned, params.key_field: sub_key(fresh.key, str(index))}
            wrong = {"Id": None} if row.get("missing") else differing(expected, row)
            if wrong:
                expected_wrong.append({"index": index, "id": row["Id"],
                                       "fields": {name: expected.get(name, row["Id"]) for name in wrong}})
                actual_wrong.append({"index": index, "id": row["Id"], "fields": wrong})
            else:
                verified.append({"sobject": record.sobject, "id": str(row["Id"]),
                                 "fields": current_values(planned, row)})
        if expected_wrong:
            raise Mismatch(f"{len(expected_wrong)} Salesforce records of the group do not hold what was written",
                           expected=expected_wrong, actual=actual_wrong)
        ids = fresh.ids
        return {"ref": group_ref(params, ids), "count": len(ids), "ids": ids, "records": verified}

    def describe(self, result: JsonDict) -> str:
        return f"{_group(result)} were created in one transaction"

    def describe_undo(self, result: JsonDict) -> str:
        return f"{_group(result)} were deleted"

    def is_undone(self, found: Group) -> bool:
        return not found.live()

    async def undo(
        self, params: CreateRecordsAtomicParams, found: Group, result: JsonDict | None, key: str
    ) -> str:
        count = len(params.records)
        live = found.live()
        ids = [str(row["Id"]) for i, row in enumerate(found.records) if i in live and row is not None]
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
        gone = count - len(ids)
        return f"deleted {len(ids)} Salesforce records of this step" + (f" ({gone} were already gone)" if gone else "")

    async def example(self) -> CreateRecordsAtomicParams:
        """Two types, so the write is the mixed-type collection (the one-type upsert is simpler)."""
        token = uuid.uuid4().hex[:12]
        return CreateRecordsAtomicParams.model_validate({"records": [
            {"sobject": "Account", "fields": {"Name": f"Pivot conformance {token}"}},
            {"sobject": "Contact", "fields": {"LastName": f"Conformance {token}"}},
        ]})
