"""The HubSpot sandbox's property definitions and CRM properties API (`/crm/v3/properties/…`).

HubSpot keeps a schema per object type: which properties exist, their type and field type, the
group they belong to, and whether their values must be unique (`hasUniqueValue`). Pivot depends
on two custom ones on every object type its catalog writes: `pivot_key` (unique, the saga's
structural key) and `pivot_undo` (an update's before-image). The sandbox starts with both defined,
so the local stack and the suite need no setup; a test removes one through
`DELETE /_sandbox/properties/{objectType}/{name}` to give `pivot setup` something to create.

Served like HubSpot: list (`GET /crm/v3/properties/{objectType}`), read one (`GET …/{name}`,
404 when undefined), create (`POST`, 201; 409 when the name is taken; 400 for an invalid
definition). Undefined properties other than Pivot's are still accepted on records (a sandbox
leniency: the suite writes arbitrary properties); Pivot's own are checked strictly, so a removed
`pivot_key` fails a write the way HubSpot fails it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pivot.providers.hubspot.sandbox.wire import (
    HubSpotError,
    JsonDict,
    not_found,
    property_doesnt_exist,
    timestamp,
    validation,
)

KEY_PROPERTY = "pivot_key"
UNDO_PROPERTY = "pivot_undo"
STRICT_PROPERTIES = frozenset({KEY_PROPERTY, UNDO_PROPERTY})
"""Properties a record may carry only while they are defined (the others are accepted leniently)."""
MAX_UNIQUE_PER_OBJECT = 10
"""HubSpot allows up to ten unique-value properties per object type."""
TYPES = MappingProxyType({
    "string": frozenset({"text", "textarea", "phonenumber", "html", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox"}),
})
"""Each property type and the field types HubSpot accepts with it."""
GROUPS = MappingProxyType({
    "contacts": ("contactinformation", "emailinformation", "conversioninformation"),
    "deals": ("dealinformation", "deal_activity"),
})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    has_unique_value: bool = False
    hubspot_defined: bool = False
    form_field: bool = False
    display_order: int = -1
    created_at: str = field(default_factory=timestamp)
    updated_at: str = ""

    def to_json(self) -> JsonDict:
        """The property as HubSpot's properties API renders it."""
        body: JsonDict = {
            "updatedAt": self.updated_at or self.created_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [],
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "modificationMetadata": {"archivable": not self.hubspot_defined,
                                     "readOnlyDefinition": self.hubspot_defined, "readOnlyValue": False},
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
            "archived": False,
        }
        if self.hubspot_defined:
            body["hubspotDefined"] = True
        return body


def _standard(name: str, label: str, group: str, type_: str = "string", field_type: str = "text") -> PropertyDefinition:
    return PropertyDefinition(name, label, type_, field_type, group, hubspot_defined=True, form_field=True)


def _pivot(group: str) -> list[PropertyDefinition]:
    """Pivot's two carriers, as `pivot setup` creates them."""
    return [
        PropertyDefinition(KEY_PROPERTY, "Pivot key", "string", "text", group, has_unique_value=True,
                           description="Written by Pivot: the saga step that created this record."),
        PropertyDefinition(UNDO_PROPERTY, "Pivot undo", "string", "textarea", group,
                           description="Written by Pivot: what an update changed, so it can be undone."),
    ]


def seeded_definitions() -> dict[str, dict[str, PropertyDefinition]]:
    """A fresh account: the standard properties the sandbox serves, plus Pivot's carriers."""
    contact, deal = "contactinformation", "dealinformation"
    contacts = [
        _standard("createdate", "Create Date", contact, "datetime", "date"),
        _standard("hs_object_id", "Record ID", contact, "number", "number"),
        _standard("lastmodifieddate", "Last Modified Date", contact, "datetime", "date"),
        _standard("email", "Email", contact), _standard("firstname", "First Name", contact),
        _standard("lastname", "Last Name", contact), _standard("company", "Company Name", contact),
        _standard("phone", "Phone Number", contact, "string", "phonenumber"),
        *_pivot(contact),
    ]
    deals = [
        _standard("createdate", "Create Date", deal, "datetime", "date"),
        _standard("hs_object_id", "Record ID", deal, "number", "number"),
        _standard("hs_lastmodifieddate", "Last Modified Date", deal, "datetime", "date"),
        _standard("dealname", "Deal Name", deal), _standard("amount", "Amount", deal, "number", "number"),
        _standard("pipeline", "Pipeline", deal, "enumeration", "select"),
        _standard("dealstage", "Deal Stage", deal, "enumeration", "radio"),
        _standard("closedate", "Close Date", deal, "datetime", "date"),
        *_pivot(deal),
    ]
    return {"contacts": {d.name: d for d in contacts}, "deals": {d.name: d for d in deals}}


def _text(payload: JsonDict, name: str, *, required: bool = True) -> str:
    value = payload.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise validation(f"Invalid input JSON: `{name}` is required and must be a string",
                         errors=[{"message": f"{name} must be a non-empty string", "code": "INVALID_STRING",
                                  "in": name}])
    return value


class PropertyBook:
    """Property definitions per object type (`contacts`, `deals`)."""

    def __init__(self) -> None:
        self.definitions = seeded_definitions()

    def reset(self) -> None:
        self.definitions = seeded_definitions()

    def defined(self, object_type: str, name: str) -> bool:
        return name in self.definitions[object_type]

    def unique_names(self, object_type: str) -> tuple[str, ...]:
        return tuple(d.name for d in self.definitions[object_type].values() if d.has_unique_value)

    def check_writable(self, object_type: str, names: list[str]) -> None:
        """HubSpot's PROPERTY_DOESNT_EXIST for a Pivot carrier this object type does not define."""
        for name in names:
            if name in STRICT_PROPERTIES and not self.defined(object_type, name):
                raise property_doesnt_exist(name)

    def create(self, object_type: str, payload: JsonDict) -> PropertyDefinition:
        name = _text(payload, "name")
        label = _text(payload, "label")
        type_ = _text(payload, "type")
        field_type = _text(payload, "fieldType")
        group = _text(payload, "groupName")
        if not _NAME.match(name):
            raise validation(f"Property name '{name}' is invalid: use lower-case letters, digits and underscores, "
                             "starting with a letter")
        if type_ not in TYPES:
            raise validation(f"Invalid property type '{type_}': expected one of {', '.join(TYPES)}")
        if field_type not in TYPES[type_]:
            raise validation(f"fieldType '{field_type}' is not valid for a property of type '{type_}'")
        if group not in GROUPS[object_type]:
            raise validation(f"Property group {group} does not exist")
        unique = payload.get("hasUniqueValue", False)
        if not isinstance(unique, bool):
            raise validation("Invalid input JSON: `hasUniqueValue` must be a boolean")
        if unique and (type_, field_type) not in {("string", "text"), ("number", "number")}:
            raise validation("Only single-line text and number properties can require unique values")
        if unique and len(self.unique_names(object_type)) >= MAX_UNIQUE_PER_OBJECT:
            raise validation(f"This object already has {MAX_UNIQUE_PER_OBJECT} properties with unique values")
        if name in self.definitions[object_type]:
            raise HubSpotError(409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
        form_field = payload.get("formField", False)
        definition = PropertyDefinition(
            name=name, label=label, type=type_, field_type=field_type, group_name=group,
            description=_text(payload, "description", required=False), has_unique_value=unique,
            form_field=form_field if isinstance(form_field, bool) else False,
            display_order=payload["displayOrder"] if isinstance(payload.get("displayOrder"), int) else -1,
        )
        self.definitions[object_type][name] = definition
        return definition

    def remove(self, object_type: str, name: str) -> bool:
        return self.definitions[object_type].pop(name, None) is not None


class PropertiesApi:
    """`/crm/v3/properties/{objectType}[/{name}]`: called by the sandbox's authenticated wrapper."""

    def __init__(self, book: PropertyBook) -> None:
        self.book = book

    async def list_all(self, request: Request, object_type: str, payload: Any) -> Response:
        return JSONResponse({"results": [d.to_json() for d in self.book.definitions[object_type].values()]})

    async def read(self, request: Request, object_type: str, payload: Any) -> Response:
        name = str(request.path_params["property_name"])
        definition = self.book.definitions[object_type].get(name)
        if definition is None:
            raise not_found(f"Unable to find property {name} for object type {object_type}")
        return JSONResponse(definition.to_json())

    async def create(self, request: Request, object_type: str, payload: Any) -> Response:
        if not isinstance(payload, dict):
            raise validation("Invalid input JSON: expected an object")
        return JSONResponse(self.book.create(object_type, payload).to_json(), status_code=201)


def property_instrument_routes(book: PropertyBook, resolve: dict[str, str]) -> list[BaseRoute]:
    """`DELETE /_sandbox/properties/{objectType}/{name}`: the account loses a definition (test instrument)."""

    async def remove(request: Request) -> Response:
        object_type = resolve.get(str(request.path_params["object_type"]))
        if object_type is None or not book.remove(object_type, str(request.path_params["name"])):
            return JSONResponse({"error": "no_such_property"}, status_code=404)
        return Response(status_code=204)

    return [Route("/_sandbox/properties/{object_type}/{name}", remove, methods=["DELETE"])]
