"""How a value read back from Salesforce is compared with the value a plan wrote.

Salesforce hands values back in its own canonical form: a currency of 1000 comes back as 1000.0,
an empty text field as null, a datetime as `2024-05-01T10:00:00.000+0000`. Comparing raw JSON
would call every such read-back a mismatch, and comparing loosely would hide real ones, so the
rules are spelled out here once and used by forward read-backs and compensations alike.
"""

from datetime import UTC, datetime
from typing import Any


def _instant(value: str) -> datetime | None:
    if "T" not in value:
        return None  # a date, or plain text: compared as text
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def same_value(planned: Any, actual: Any) -> bool:
    """True when Salesforce holds `planned`, allowing only for Salesforce's canonical forms."""
    if planned in (None, "") or actual in (None, ""):
        return planned in (None, "") and actual in (None, "")
    if isinstance(planned, bool) or isinstance(actual, bool):
        return planned is actual
    if isinstance(planned, int | float) and isinstance(actual, int | float):
        return float(planned) == float(actual)
    if isinstance(planned, str) and isinstance(actual, str):
        if planned == actual:
            return True
        left, right = _instant(planned), _instant(actual)
        return left is not None and right is not None and left == right
    return False


def field_of(record: dict[str, Any], name: str) -> Any:
    """A field's value; API names are case-insensitive and Salesforce answers in its own spelling."""
    if name in record:
        return record[name]
    lowered = name.lower()
    return next((value for key, value in record.items() if key.lower() == lowered), None)


def current_values(planned: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The record's current values of the planned fields, keyed as the plan spells them."""
    return {name: field_of(record, name) for name in planned}


def differing(planned: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The planned fields whose current value on `record` is not the planned one: {field: current}."""
    current = current_values(planned, record)
    return {name: current[name] for name, value in planned.items() if not same_value(value, current[name])}
