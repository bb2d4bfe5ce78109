"""HubSpot's CRM search (`POST /crm/v3/objects/{objectType}/search`): the request, checked and
turned into a predicate over a record's properties.

As HubSpot documents it: `filterGroups` is an OR of up to 5 groups, each an AND of up to 6
`filters` (`{propertyName, operator, value | values}`); string comparisons ignore case; `limit`
is at most 200 and `after` is an offset; search sees live records only, never archived ones.
The operators served are the ones a lookup by a property needs: EQ, NEQ, IN, NOT_IN,
HAS_PROPERTY, NOT_HAS_PROPERTY (any other is refused, as HubSpot refuses an unknown one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pivot.providers.hubspot.sandbox.wire import HubSpotError, validation

MAX_GROUPS = 5
MAX_FILTERS = 6
MAX_LIMIT = 200
DEFAULT_LIMIT = 10

Properties = Mapping[str, str | None]
Predicate = Callable[[Properties], bool]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value).strip().lower()
    raise validation("filter values must be strings, numbers or booleans")


def _filter(spec: Any) -> Predicate:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise validation("Invalid input JSON: each filter needs `propertyName` and `operator`")
    name, operator = str(spec["propertyName"]), str(spec.get("operator", ""))
    if operator in {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}:
        present = operator == "HAS_PROPERTY"
        return lambda props: (props.get(name) is not None) == present
    if operator in {"EQ", "NEQ"}:
        if "value" not in spec:
            raise validation(f"filter on {name}: operator {operator} needs `value`")
        wanted, equal = _text(spec["value"]), operator == "EQ"
        return lambda props: ((props.get(name) or "").lower() == wanted) == equal
    if operator in {"IN", "NOT_IN"}:
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise validation(f"filter on {name}: operator {operator} needs a non-empty `values` array")
        among, inside = frozenset(_text(value) for value in values), operator == "IN"
        return lambda props: ((props.get(name) or "").lower() in among) == inside
    raise validation(f"Unsupported operator {operator!r} in a search filter")


@dataclass(frozen=True)
class Search:
    """One checked search request."""

    matches: Predicate
    properties: list[str] | None
    limit: int
    after: int


def parse_search(payload: Mapping[str, Any]) -> Search:
    """The search a request body asks for; `HubSpotError` (400) for what HubSpot would refuse."""
    groups = payload.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise validation(f"`filterGroups` must be an array of at most {MAX_GROUPS} groups")
    alternatives: list[list[Predicate]] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or not filters or len(filters) > MAX_FILTERS:
            raise validation(f"each filter group needs 1 to {MAX_FILTERS} `filters`")
        alternatives.append([_filter(spec) for spec in filters])
    properties = payload.get("properties")
    if properties is not None and not (isinstance(properties, list)
                                       and all(isinstance(name, str) for name in properties)):
        raise validation("Invalid input JSON: `properties` must be an array of names")
    try:
        limit = int(payload.get("limit", DEFAULT_LIMIT))
        after = int(payload.get("after", 0) or 0)
    except (TypeError, ValueError):
        raise validation("`limit` and `after` must be integers") from None
    if not 1 <= limit <= MAX_LIMIT or after < 0:
        raise HubSpotError(400, f"`limit` must be between 1 and {MAX_LIMIT}", "VALIDATION_ERROR")

    def matches(props: Properties) -> bool:
        return not alternatives or any(all(test(props) for test in group) for group in alternatives)

    return Search(matches, properties, limit, after)
