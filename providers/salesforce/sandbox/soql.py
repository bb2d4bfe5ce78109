"""The sliver of SOQL the sandbox understands: the lookups Pivot's client sends, and no more.

    SELECT f1, f2 FROM Type [WHERE Field = 'v' | WHERE Field IN ('a', 'b')] [LIMIT n]

Anything else is answered with Salesforce's MALFORMED_QUERY, so a client that starts sending
other queries fails loudly in tests instead of getting a made-up answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pivot.providers.salesforce.sandbox.store import SalesforceError

_LITERAL = r"'(?:[^'\\]|\\.)*'"
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>\w+(?:\s*,\s*\w+)*)\s+FROM\s+(?P<sobject>\w+)"
    r"(?:\s+WHERE\s+(?P<field>\w+)\s*(?:=\s*(?P<eq>" + _LITERAL + r")|IN\s*\((?P<in>\s*" + _LITERAL
    + r"(?:\s*,\s*" + _LITERAL + r")*)\s*\)))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where_field: str | None
    values: tuple[str, ...]
    limit: int | None


def _unquote(literal: str) -> str:
    return _ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), literal[1:-1])


def parse(soql: str) -> Query:
    match = _QUERY.match(soql)
    if match is None:
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token in the query: {soql[:80]!r}")
    literals = [match.group("eq")] if match.group("eq") else re.findall(_LITERAL, match.group("in") or "")
    return Query(
        fields=tuple(name.strip() for name in match.group("fields").split(",")),
        sobject=match.group("sobject"),
        where_field=match.group("field"),
        values=tuple(_unquote(literal) for literal in literals),
        limit=int(match.group("limit")) if match.group("limit") else None,
    )
