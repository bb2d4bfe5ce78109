"""The Salesforce sandbox's metadata: which fields each sObject has, who may do what, and describe.

Real orgs differ in exactly what `pivot doctor` looks at, so the sandbox models it:

- **Fields.** Each sObject has its standard fields plus Pivot's key carrier `Pivot_Key__c`
  (Text(255), External ID, Unique): the sandbox starts with it, so the local stack and the suite
  need no setup. `DELETE /_sandbox/fields/{sObject}/{field}` removes it, to give `pivot setup`
  something to create. Fields other than `Pivot_Key__c` are not enforced on records (a leniency:
  the suite writes arbitrary custom fields); the carrier is, so a removed one fails a write the way
  a real org fails it.
- **Field-level security.** A field created through the Tooling API is visible to no profile
  until an admin grants it, exactly as in a real org: describe leaves it out and records may not
  use it. `PATCH /_sandbox/fields/{sObject}/{field} {"visible": true}` plays the admin granting it.
- **Permissions.** Taken from the kit's token book: `api` (the user's API Enabled permission;
  without it every call is 403 API_DISABLED_FOR_ORG) and `{sObject}:read|create|edit|delete` (the
  object permissions describe reports as queryable, createable, updateable, deletable; no read and
  describe is a 404, the object does not exist for that user). A configured (not registered) token has them all.
  Record endpoints do not enforce object permissions (a sandbox simplification).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pivot.providers.salesforce.sandbox.store import (
    KEY_FIELD,
    STANDARD_TYPES,
    SalesforceError,
    SObjectType,
    id_suffix,
    sobject_type,
)
from pivot.providers.sandbox_kit import read_json_object
from pivot.providers.sandbox_kit.tokens import TokenBook

CUSTOM_FIELD_PREFIX = "00N"
MAX_TEXT_LENGTH = 255
JsonDict = dict[str, Any]


@dataclass
class FieldDef:
    """One field as describe reports it (the subset of Salesforce's field describe Pivot reads)."""

    name: str
    label: str
    type: str
    length: int = 0
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    nillable: bool = True
    writable: bool = True
    visible: bool = True
    """False: no field-level security grants it to the integration user's profile."""
    id: str = ""
    """Custom fields only: the CustomField's id in the Tooling API (00N…)."""

    def describe(self, *, create: bool, edit: bool) -> JsonDict:
        soap = {"id": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime", "date": "xsd:date",
                "currency": "xsd:double", "reference": "tns:ID"}.get(self.type, "xsd:string")
        return {
            "name": self.name, "label": self.label, "type": self.type, "soapType": soap, "length": self.length,
            "custom": self.custom, "externalId": self.external_id, "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id, "caseSensitive": False,
            "nillable": self.nillable, "createable": self.writable and create, "updateable": self.writable and edit,
            "filterable": True, "sortable": True, "calculated": False, "defaultedOnCreate": not self.writable,
        }


def _system() -> list[FieldDef]:
    return [FieldDef("Id", "Record ID", "id", 18, nillable=False, writable=False),
            FieldDef("IsDeleted", "Deleted", "boolean", nillable=False, writable=False),
            FieldDef("CreatedDate", "Created Date", "datetime", nillable=False, writable=False),
            FieldDef("LastModifiedDate", "Last Modified Date", "datetime", nillable=False, writable=False),
            FieldDef("SystemModstamp", "System Modstamp", "datetime", nillable=False, writable=False)]


def _text(name: str, label: str, length: int = 255, *, required: bool = False) -> FieldDef:
    return FieldDef(name, label, "string", length, nillable=not required)


STANDARD_FIELDS: dict[str, list[FieldDef]] = {
    "account": [_text("Name", "Account Name", required=True), FieldDef("Phone", "Account Phone", "phone", 40),
                FieldDef("Website", "Website", "url", 255), _text("Industry", "Industry", 255)],
    "contact": [_text("FirstName", "First Name", 40), _text("LastName", "Last Name", 80, required=True),
                FieldDef("Email", "Email", "email", 80), FieldDef("AccountId", "Account ID", "reference", 18)],
    "opportunity": [_text("Name", "Name", 120, required=True),
                    FieldDef("StageName", "Stage", "picklist", 255, nillable=False),
                    FieldDef("CloseDate", "Close Date", "date", nillable=False),
                    FieldDef("Amount", "Amount", "currency"), FieldDef("AccountId", "Account ID", "reference", 18)],
    "lead": [_text("FirstName", "First Name", 40), _text("LastName", "Last Name", 80, required=True),
             _text("Company", "Company", 255, required=True), FieldDef("Email", "Email", "email", 80)],
}


@dataclass
class Access:
    """What the calling user may do: the `api` permission and object permissions, from the token book."""

    granted: frozenset[str] | None = None
    """None: everything (a configured token that no test registered)."""

    def allows(self, sobject: str, permission: str) -> bool:
        return self.granted is None or f"{sobject.lower()}:{permission}" in self.granted

    @classmethod
    def of(cls, book: TokenBook, token: str) -> Access:
        scopes = book.scopes(token)
        return cls(None if scopes is None else frozenset(s.lower() for s in scopes))


@dataclass
class Schema:
    """Field definitions per sObject (lower-cased names), seeded on first use."""

    fields: dict[str, dict[str, FieldDef]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    """Lower-cased sObject name → its API name."""
    next_field_number: int = 1

    def reset(self) -> None:
        """Back to a fresh org: standard fields and a visible `Pivot_Key__c` on every sObject."""
        self.fields.clear()
        self.names.clear()
        self.next_field_number = 1

    def of(self, sobject: SObjectType) -> dict[str, FieldDef]:
        key = sobject.name.lower()
        if key not in self.fields:
            own = STANDARD_FIELDS.get(key) or ([] if key in STANDARD_TYPES else [_text("Name", f"{sobject.name} "
                                                                                        "Name", 80)])
            carrier = self._custom_field(KEY_FIELD, "Pivot Key", MAX_TEXT_LENGTH, external_id=True, unique=True)
            self.fields[key] = {f.name.lower(): f for f in [*_system(), *own, carrier]}
            self.names[key] = sobject.name
        return self.fields[key]

    def custom_fields(self) -> list[tuple[str, FieldDef]]:
        """(sObject API name, field) for every custom field of the standard sObjects and of those seen so far."""
        for standard in STANDARD_TYPES.values():
            self.of(standard)
        return [(self.names[key], f) for key, fields in self.fields.items() for f in fields.values() if f.custom]

    def _custom_field(self, name: str, label: str, length: int, *, external_id: bool, unique: bool) -> FieldDef:
        number, self.next_field_number = self.next_field_number, self.next_field_number + 1
        id15 = f"{CUSTOM_FIELD_PREFIX}5g0000{number:06d}"
        return FieldDef(name, label, "string", length, external_id=external_id, unique=unique, custom=True,
                        id=id15 + id_suffix(id15))

    def field(self, sobject: SObjectType, name: str) -> FieldDef | None:
        return self.of(sobject).get(name.lower())

    def require_carriers(self, sobject: SObjectType, names: Iterable[str], *, lookup: bool = False) -> None:
        """Refuse the key carrier where this user cannot see it: INVALID_FIELD on writes and queries,
        NOT_FOUND on an external-id lookup, as Salesforce answers for a field that is not there."""
        for name in names:
            if name.lower() != KEY_FIELD.lower():
                continue
            found = self.field(sobject, name)
            if found is None or not found.visible:
                if lookup:
                    raise SalesforceError(404, "NOT_FOUND",
                                          f"Provided external ID field does not exist or is not accessible: {name}")
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type "
                                      f"{sobject.name}", [name])

    def describe(self, sobject: SObjectType, version: str, access: Access) -> JsonDict:
        """`GET sobjects/{S}/describe`: 404 when the user may not read the object."""
        if not access.allows(sobject.name, "read"):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        create, edit = access.allows(sobject.name, "create"), access.allows(sobject.name, "edit")
        base = f"/services/data/{version}/sobjects/{sobject.name}"
        return {
            "name": sobject.name, "label": sobject.name, "labelPlural": f"{sobject.name}s",
            "keyPrefix": sobject.prefix, "custom": sobject.name.endswith("__c"),
            "createable": create, "updateable": edit, "deletable": access.allows(sobject.name, "delete"),
            "queryable": True, "retrieveable": True, "searchable": True, "undeletable": True,
            "fields": [f.describe(create=create, edit=edit) for f in self.of(sobject).values() if f.visible],
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            "childRelationships": [], "recordTypeInfos": [],
        }

    def create_custom_field(self, sobject: SObjectType, name: str, metadata: JsonDict) -> FieldDef:
        """A Tooling API CustomField create: Text fields only (all Pivot creates), hidden until granted."""
        if name.lower() in self.of(sobject):
            raise SalesforceError(400, "DUPLICATE_VALUE",
                                  "duplicate value found: <unknown> duplicates value on record with id: <unknown>")
        label, kind, length = metadata.get("label"), metadata.get("type"), metadata.get("length")
        if not isinstance(label, str) or not label.strip():
            raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION", "Field Label: You must enter a value", ["label"])
        if kind != "Text":
            raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION",
                                  f"The sandbox creates Text fields only, not {kind!r}", ["type"])
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= MAX_TEXT_LENGTH:
            raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION",
                                  f"Length: the length must be between 1 and {MAX_TEXT_LENGTH}", ["length"])
        flags = {name: metadata.get(name, False) for name in ("externalId", "unique")}
        if not all(isinstance(value, bool) for value in flags.values()):
            raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION", "externalId and unique must be true or false")
        created = self._custom_field(name, label, length, external_id=flags["externalId"], unique=flags["unique"])
        created.visible = False
        self.of(sobject)[name.lower()] = created
        return created


def field_instrument_routes(schema: Schema) -> list[BaseRoute]:
    """`DELETE` (the field is gone) and `PATCH {"visible": bool}` (grant or revoke field-level
    security) on `/_sandbox/fields/{sObject}/{field}`: test instruments playing the org's admin."""

    def target(request: Request) -> tuple[dict[str, FieldDef], str] | None:
        try:
            fields = schema.of(sobject_type(str(request.path_params["sobject"])))
        except SalesforceError:
            return None
        name = str(request.path_params["field"]).lower()
        return (fields, name) if name in fields else None

    async def remove(request: Request) -> Response:
        found = target(request)
        if found is None:
            return JSONResponse({"error": "no_such_field"}, status_code=404)
        del found[0][found[1]]
        return Response(status_code=204)

    async def grant(request: Request) -> Response:
        found = target(request)
        if found is None:
            return JSONResponse({"error": "no_such_field"}, status_code=404)
        try:
            visible = (await read_json_object(request)).get("visible")
        except ValueError as exc:
            return JSONResponse({"error": "invalid_body", "detail": str(exc)}, status_code=400)
        if not isinstance(visible, bool):
            return JSONResponse({"error": "invalid_body", "detail": "visible must be true or false"}, status_code=400)
        found[0][found[1]].visible = visible
        return JSONResponse({"field": found[0][found[1]].name, "visible": visible})

    path = "/_sandbox/fields/{sobject}/{field}"
    return [Route(path, remove, methods=["DELETE"]), Route(path, grant, methods=["PATCH"])]
