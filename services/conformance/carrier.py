"""Whether a request carries a step's key where the action declares it does (`KeyCarrier`).

The declaration is data (`where`, `name`) so that it can be checked against the wire: the write the
proxy logged must hold the key in that header, form field, JSON path, query or path. The proxy's
rules use the same test to pick the write out of a step's requests ("the request that carries this
key"), so a fault lands on the write and not on a lookup.

A value "carries" the key when it contains it: a batch carries `key:0`, `key:1`, an update's stamp
carries the key inside a before-image. A JSON path is dotted (`properties.pivot_key`); a list on
the way is searched in every item (`inputs.properties.pivot_key`), and `*` or an index also work.
"""

import json
import re
from typing import Any

from pivot.services.conformance.proxy import Sent

READS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = re.compile(r"/(batch/read|search|query)/?$")
"""POSTs that only read, by the shape the big APIs give them (HubSpot's batch read and search)."""
_MUTATION = re.compile(r"^\s*mutation\b[^{]*\{\s*(\w+)")
_DIGIT = re.compile(r"\d")


def mutation_of(sent: Sent) -> str | None:
    """A GraphQL request's first mutation field (`draftOrderComplete`), or None (a query, or not GraphQL)."""
    body = sent.json()
    query = body.get("query") if isinstance(body, dict) else None
    match = _MUTATION.match(query) if isinstance(query, str) else None
    return match.group(1) if match else None


def is_write(sent: Sent) -> bool:
    """Whether a request may change something: not a GET, not a GraphQL query, not a read-shaped POST."""
    if sent.method in READS or READ_POSTS.search(sent.path):
        return False
    body = sent.json()
    if isinstance(body, dict) and isinstance(body.get("query"), str):
        return mutation_of(sent) is not None
    return True


def _at_path(value: Any, path: list[str]) -> list[Any]:
    if not path:
        return [value]
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        if head.isdigit():
            return _at_path(value[int(head)], rest) if int(head) < len(value) else []
        if head == "*":
            return [found for item in value for found in _at_path(item, rest)]
        return [found for item in value for found in _at_path(item, path)]  # a list on the way: every item
    if isinstance(value, dict) and head in value:
        return _at_path(value[head], rest)
    return []


def _segments(name: str) -> list[str]:
    """`inputs[].properties.pivot_key` or `records[0].Key__c` as path segments (`[]` is every item)."""
    segments: list[str] = []
    for part in name.removeprefix("$").removeprefix(".").split("."):
        field, _, index = part.partition("[")
        segments += [field] if field else []
        segments += ["*" if index in {"]", "*]"} else index.rstrip("]")] if index else []
    return segments


def _contains(value: Any, key: str) -> bool:
    if isinstance(value, str):
        return key in value
    return key in json.dumps(value)


def carries(sent: Sent, where: str, name: str, key: str) -> bool:
    """Whether `sent` holds `key` in its `where` part named `name`."""
    if where == "header":
        return _contains(sent.header(name) or "", key)
    if where == "form":
        return any(key in value for value in sent.form().get(name, []))
    if where == "query":
        return any(key in value for value in sent.query_params().get(name, []))
    if where == "path":
        return key in sent.path
    if where == "json":
        body = sent.json()
        path = _segments(name)
        return body is not None and any(_contains(found, key) for found in _at_path(body, path))
    return False  # `stored`: no HTTP request shows it


class KeyInWrite:
    """A proxy rule's predicate: a write (not a read) that carries `key` as declared."""

    def __init__(self, where: str, name: str, key: str):
        self.where, self.name, self.key = where, name, key

    def __call__(self, sent: Sent) -> bool:
        return is_write(sent) and carries(sent, self.where, self.name, self.key)


class WriteShape:
    """A proxy rule's predicate for an action whose key no request shows: a write shaped like one seen
    before — same method, same path but for the segments holding ids (any with a digit), same
    GraphQL mutation."""

    def __init__(self, example: Sent):
        self.method = example.method
        self.path = [None if _DIGIT.search(part) else part for part in example.path.split("/")]
        self.mutation = mutation_of(example)

    def __call__(self, sent: Sent) -> bool:
        parts = sent.path.split("/")
        return (sent.method == self.method and is_write(sent) and len(parts) == len(self.path)
                and all(want is None or want == part for want, part in zip(self.path, parts, strict=True))
                and mutation_of(sent) == self.mutation)

    def __str__(self) -> str:
        shown = "/".join("…" if part is None else part for part in self.path)
        return f"{self.method} {shown}" + (f" ({self.mutation})" if self.mutation else "")


Write = KeyInWrite | WriteShape


class AfterWrite:
    """A proxy rule's predicate: true for the requests after the write carrying `key` (the read-back),
    never for the write itself."""

    def __init__(self, write: Write):
        self.write = write
        self.armed = False

    def __call__(self, sent: Sent) -> bool:
        if self.write(sent):
            self.armed = True
            return False
        return self.armed
