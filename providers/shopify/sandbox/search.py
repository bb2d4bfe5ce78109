"""Shopify's search syntax, as far as the draft-order lookups use it.

`tag:'pivot-abc' status:open` is a list of `field:value` terms joined by AND; values may be
quoted with ' or ". Tags and statuses compare case-insensitively, as Shopify's do. A term on a
field the sandbox does not index is ignored and reported, as Shopify reports invalid search
fields in `extensions.search` instead of failing the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TERM = re.compile(r"""(?P<neg>-)?(?:(?P<field>\w+):)?(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>\S+))""")


@dataclass(frozen=True)
class Term:
    field: str | None
    value: str
    negated: bool


def parse_query(query: str) -> list[Term]:
    terms = []
    for match in _TERM.finditer(query or ""):
        value = next(v for v in (match["sq"], match["dq"], match["bare"]) if v is not None)
        if value.upper() in ("AND", "") and match["field"] is None:
            continue
        terms.append(Term(field=match["field"].lower() if match["field"] else None, value=value,
                          negated=bool(match["neg"])))
    return terms


Matcher = Callable[[Any, str], bool]


def filter_items(items: list[Any], query: str | None, matchers: dict[str, Matcher],
                 default: Matcher) -> tuple[list[Any], list[dict[str, str]]]:
    """Items matching every term, and the warnings for terms on unknown fields."""
    if not query:
        return items, []
    warnings: list[dict[str, str]] = []
    kept = items
    for term in parse_query(query):
        if term.field is not None and term.field not in matchers:
            warnings.append({"field": term.field, "message": "Invalid search field for this query."})
            continue
        matcher = matchers[term.field] if term.field is not None else default
        kept = [item for item in kept if matcher(item, term.value) != term.negated]
    return kept, warnings
