"""The Salesforce sandbox's data: sObject types, records, validation, and transactions.

Framework-free on purpose: the HTTP layer (`api`) and the composite executor both call
it, and a transaction (an allOrNone collection, a composite request) is a snapshot that is
restored on failure. Effects are buffered and reach the kit's ledger only when the request that
made them commits, so a rolled-back write never shows up as an effect.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pivot.providers.sandbox_kit import Ledger

if TYPE_CHECKING:
    from pivot.providers.salesforce.sandbox.schema import Schema

KEY_FIELD = "Pivot_Key__c"
UNIQUE_FIELDS = frozenset({KEY_FIELD.lower()})
"""Fields with a unique index (compared case-insensitively). Pivot asks orgs to make its key field
External ID + Unique; other custom fields may be used as (non-unique) external ids here."""
SYSTEM_FIELDS = ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp")
_READ_ONLY = frozenset(name.lower() for name in (*SYSTEM_FIELDS, "CreatedById", "LastModifiedById"))
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:__?[A-Za-z0-9]+)*$")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
FIRST_RECORD_NUMBER = 3_000_000

JsonDict = dict[str, Any]
Scalar = str | int | float | bool | None


class SalesforceError(Exception):
    """An error in Salesforce's shape: HTTP status, errorCode, message, fields."""

    def __init__(self, status: int, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)

    def item(self) -> JsonDict:
        """The REST form, `[{"message","errorCode","fields"}]` once wrapped in a list."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def collection_item(self) -> JsonDict:
        """The sObject Collections form, which says `statusCode` instead of `errorCode`."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


@dataclass(frozen=True)
class SObjectType:
    name: str
    prefix: str
    required: tuple[str, ...] = ()


STANDARD_TYPES: Mapping[str, SObjectType] = MappingProxyType({
    t.name.lower(): t for t in (
        SObjectType("Account", "001", ("Name",)),
        SObjectType("Contact", "003", ("LastName",)),
        SObjectType("Opportunity", "006", ("Name", "StageName", "CloseDate")),
        SObjectType("Lead", "00Q", ("LastName", "Company")),
    )
})
CUSTOM_PREFIX = "a0X"


def sobject_type(name: str) -> SObjectType:
    """The type named in a URL or a record's attributes; custom objects (`…__c`) always exist here."""
    known = STANDARD_TYPES.get(name.lower())
    if known is not None:
        return known
    if name.endswith("__c") and _NAME.match(name):
        return SObjectType(name, CUSTOM_PREFIX)
    raise not_found()


def id_suffix(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per 5-character chunk, from its upper-case bits."""
    return "".join(
        _SUFFIX[sum(1 << bit for bit, char in enumerate(id15[start:start + 5]) if "A" <= char <= "Z")]
        for start in (0, 5, 10)
    )


def to_id18(value: str) -> str | None:
    """The 18-character id for a 15- or 18-character one; None when it is not an id at all."""
    if not value.isalnum() or not value.isascii():
        return None
    if len(value) == 15:
        return value + id_suffix(value)
    if len(value) == 18 and value[15:].upper() == id_suffix(value[:15]):
        return value[:15] + id_suffix(value[:15])
    return None


def timestamp() -> str:
    """Salesforce's datetime format: `2024-05-01T10:00:00.000+0000`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class Record:
    sobject: str
    id: str
    values: dict[str, Scalar]
    created: str
    modified: str
    deleted: bool = False

    def get(self, name: str) -> Scalar:
        lowered = name.lower()
        system: dict[str, Scalar] = {"id": self.id, "isdeleted": self.deleted, "createddate": self.created,
                                     "lastmodifieddate": self.modified, "systemmodstamp": self.modified}
        if lowered in system:
            return system[lowered]
        return next((value for key, value in self.values.items() if key.lower() == lowered), None)

    def canonical(self, name: str) -> str:
        """The field's name as this record spells it (the first writer's spelling), else as asked."""
        lowered = name.lower()
        system = next((s for s in SYSTEM_FIELDS if s.lower() == lowered), None)
        return system or next((key for key in self.values if key.lower() == lowered), name)

    def view(self, version: str, names: Iterable[str] | None = None) -> JsonDict:
        """The REST form of the record: attributes, Id, then the requested (or all) fields."""
        body: JsonDict = {"attributes": {"type": self.sobject,
                                         "url": f"/services/data/{version}/sobjects/{self.sobject}/{self.id}"},
                          "Id": self.id}
        wanted = list(names) if names is not None else [*self.values, *SYSTEM_FIELDS]
        for name in wanted:
            body[self.canonical(name)] = self.get(name)
        return body


@dataclass(frozen=True)
class PendingEffect:
    op: str
    sobject: str
    id: str
    key: str | None
    detail: JsonDict


@dataclass
class _State:
    records: dict[str, Record] = field(default_factory=dict)
    next_number: int = FIRST_RECORD_NUMBER


Tag = Mapping[str, Any]
"""How a write arrived (e.g. {"via": "composite/sobjects", "allOrNone": True}), for the ledger."""


def check_field_name(sobject: str, name: str, *, writing: bool) -> None:
    if not _NAME.match(name) or name.startswith("Invalid"):
        raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
    if writing and name.lower() in _READ_ONLY:
        raise SalesforceError(
            400, "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {name}. Please check the security settings of this field and "
            "verify that it is read/write for your profile or permission set.", [name],
        )


def _checked_values(sobject: str, body: Mapping[str, Any]) -> dict[str, Scalar]:
    values: dict[str, Scalar] = {}
    for name, value in body.items():
        if name == "attributes":
            continue
        check_field_name(sobject, name, writing=True)
        if value is not None and not isinstance(value, str | int | float | bool):
            raise SalesforceError(400, "JSON_PARSER_ERROR",
                                  f"Cannot deserialize instance of {name} from {type(value).__name__} value")
        values[name] = "" if value is None else value
    return values


class Store:
    """All records of one sandbox, plus the effects of the request being handled."""

    def __init__(self, ledger: Ledger, schema: Schema) -> None:
        self.ledger = ledger
        self.schema = schema
        """The org's field definitions: a record may carry the key carrier only where it is visible."""
        self.state = _State()
        self.pending: list[PendingEffect] = []

    def reset(self) -> None:
        self.state = _State()
        self.pending.clear()

    # ----------------------------------------------------------------- transactions

    def snapshot(self) -> tuple[_State, int]:
        return copy.deepcopy(self.state), len(self.pending)

    def restore(self, snapshot: tuple[_State, int]) -> None:
        self.state = snapshot[0]
        del self.pending[snapshot[1]:]

    def commit(self) -> None:
        """Hand the effects of the finished request to the ledger."""
        for effect in self.pending:
            self.ledger.record(effect.op, effect.sobject, effect.id, effect.key, effect.detail)
        self.pending.clear()

    def _effect(self, op: str, record: Record, names: Iterable[str], tag: Tag) -> None:
        key = record.get(KEY_FIELD)
        self.pending.append(PendingEffect(op, record.sobject, record.id, key if isinstance(key, str) else None,
                                          {"fields": sorted(names), **tag}))

    # ----------------------------------------------------------------- reads

    def get(self, sobject: SObjectType, raw_id: str) -> Record:
        """A live record of this type; NOT_FOUND / ENTITY_IS_DELETED (404) otherwise."""
        record_id = to_id18(raw_id)
        record = self.state.records.get(record_id) if record_id else None
        if record is None or record.sobject != sobject.name:
            if record_id is None:
                raise not_found(f"Provided external ID field does not exist or is not accessible: {raw_id}")
            raise not_found()
        if record.deleted:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    def by_id(self, raw_id: str) -> Record | None:
        record_id = to_id18(raw_id)
        return self.state.records.get(record_id) if record_id else None

    def find(
        self, sobject: SObjectType, field_name: str, value: Scalar, *, include_deleted: bool = False
    ) -> list[Record]:
        """Records of this type whose field equals `value` (external ids compare as text)."""
        check_field_name(sobject.name, field_name, writing=False)
        self.schema.require_carriers(sobject, [field_name], lookup=True)
        if field_name.lower() == "id":
            record = self.by_id(str(value))
            found = [record] if record is not None and record.sobject == sobject.name else []
        else:
            found = [r for r in self.state.records.values()
                     if r.sobject == sobject.name and r.get(field_name) not in (None, "")
                     and str(r.get(field_name)) == str(value)]
        return [r for r in found if include_deleted or not r.deleted]

    def live(self, sobject: SObjectType) -> list[Record]:
        return [r for r in self.state.records.values() if r.sobject == sobject.name and not r.deleted]

    def all_of(self, sobject: SObjectType) -> list[Record]:
        return [r for r in self.state.records.values() if r.sobject == sobject.name]

    # ----------------------------------------------------------------- writes

    def _check_required(self, sobject: SObjectType, merged: Mapping[str, Scalar]) -> None:
        lowered = {name.lower(): value for name, value in merged.items()}
        missing = [name for name in sobject.required if lowered.get(name.lower()) in (None, "")]
        if missing:
            raise SalesforceError(400, "REQUIRED_FIELD_MISSING",
                                  f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _check_unique(self, sobject: SObjectType, values: Mapping[str, Scalar], exclude: str | None) -> None:
        for name, value in values.items():
            if name.lower() not in UNIQUE_FIELDS or value in (None, ""):
                continue
            for other in self.live(sobject):
                if other.id != exclude and str(other.get(name)) == str(value):
                    raise SalesforceError(400, "DUPLICATE_VALUE",
                                          f"duplicate value found: {name} duplicates value on record with id: "
                                          f"{other.id}")

    def create(self, sobject: SObjectType, body: Mapping[str, Any], tag: Tag) -> Record:
        values = _checked_values(sobject.name, body)
        self.schema.require_carriers(sobject, values)
        self._check_required(sobject, values)
        self._check_unique(sobject, values, exclude=None)
        number, self.state.next_number = self.state.next_number, self.state.next_number + 1
        digits = ""
        while number:
            number, rest = divmod(number, 62)
            digits = _BASE62[rest] + digits
        id15 = f"{sobject.prefix}5g0{digits.rjust(9, '0')}"
        now = timestamp()
        record = Record(sobject.name, id15 + id_suffix(id15), {k: v for k, v in values.items() if v != ""}, now, now)
        self.state.records[record.id] = record
        self._effect("create", record, record.values, tag)
        return record

    def update(self, sobject: SObjectType, record: Record, body: Mapping[str, Any], tag: Tag) -> None:
        values = _checked_values(sobject.name, body)
        self.schema.require_carriers(sobject, values)
        merged = {**record.values}
        for name, value in values.items():
            merged[record.canonical(name)] = value
        self._check_required(sobject, merged)
        self._check_unique(sobject, values, exclude=record.id)
        record.values = {k: v for k, v in merged.items() if v != ""}
        record.modified = timestamp()
        self._effect("update", record, values, tag)

    def delete(self, record: Record, tag: Tag) -> None:
        """To the Recycle Bin: gone for reads and external-id lookups, ENTITY_IS_DELETED when deleted again."""
        if record.deleted:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        record.deleted = True
        record.modified = timestamp()
        self._effect("delete", record, (), tag)

    def upsert(self, sobject: SObjectType, field_name: str, value: str, body: Mapping[str, Any],
               tag: Tag) -> tuple[Record, bool]:
        """Create or update by external id; 300 (with the matches) when several records match."""
        matches = self.find(sobject, field_name, value)
        if len(matches) > 1:
            raise MultipleMatches(matches)
        given = next((v for k, v in body.items() if k.lower() == field_name.lower()), None)
        if given is not None and str(given) != value:
            raise SalesforceError(400, "INVALID_FIELD",
                                  f"The value of {field_name} in the body does not match the value in the URL")
        if matches:
            self.update(sobject, matches[0], body, tag)
            return matches[0], False
        if field_name.lower() == "id":
            raise not_found()
        fields = {k: v for k, v in body.items() if k.lower() != field_name.lower()}
        return self.create(sobject, {**fields, field_name: value}, tag), True


class MultipleMatches(Exception):
    """An external id matched several records: Salesforce answers 300 Multiple Choices."""

    def __init__(self, records: list[Record]) -> None:
        super().__init__(f"{len(records)} records match")
        self.records = records
