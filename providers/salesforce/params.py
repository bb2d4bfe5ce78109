"""Bounded building blocks of the Salesforce actions' params: names, field values, field maps.

Names are API names (`Account`, `Invoice__c`, `ns__Thing__c`) checked by pattern, because they are
put into URLs and SOQL; values are JSON scalars, because a field holds one value. System fields
and the key field can never be written by a plan: the key is structural, not the agent's.
"""

from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

DEFAULT_KEY_FIELD = "Pivot_Key__c"
MAX_FIELDS = 50
MAX_TEXT = 10_000
"""Matches the engine's limit on plan strings; Salesforce's long text areas hold more."""

API_NAME = r"^[A-Za-z][A-Za-z0-9]*(?:__?[A-Za-z0-9]+)*$"
"""Letters, digits, single underscores, and `__` only as namespace/suffix separator (`ns__Obj__c`)."""
CUSTOM_FIELD = r"^[A-Za-z][A-Za-z0-9]*(?:__?[A-Za-z0-9]+)*__c$"
RECORD_ID = r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$"
EXTERNAL_ID_VALUE = r"^[A-Za-z0-9_@+:\-][A-Za-z0-9_.@+:\-]{0,254}$"

SYSTEM_FIELDS = frozenset({
    "id", "isdeleted", "createddate", "createdbyid", "lastmodifieddate", "lastmodifiedbyid", "systemmodstamp",
})

SObjectName = Annotated[str, Field(pattern=API_NAME, min_length=1, max_length=80)]
FieldName = Annotated[str, Field(pattern=API_NAME, min_length=1, max_length=80)]
KeyField = Annotated[str, Field(pattern=CUSTOM_FIELD, max_length=80, description="An External ID, Unique text field")]
RecordId = Annotated[str, Field(pattern=RECORD_ID)]
FieldValue = (
    Annotated[StrictStr, Field(max_length=MAX_TEXT)]
    | StrictBool
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | None
)
"""One field's value; None clears a field (Salesforce's null)."""
Fields = Annotated[dict[FieldName, FieldValue], Field(min_length=1, max_length=MAX_FIELDS)]


def check_writable(fields: dict[str, Any], *reserved: str) -> dict[str, Any]:
    """Refuse system fields and the reserved (key / external-id) fields, case-insensitively as Salesforce does."""
    taken = {name.lower() for name in reserved} | SYSTEM_FIELDS
    bad = sorted(name for name in fields if name.lower() in taken)
    if bad:
        raise ValueError(f"these fields are set by Salesforce or by Pivot and cannot be written: {', '.join(bad)}")
    return fields
