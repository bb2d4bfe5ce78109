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
from typing import Any

from pivot.services.conformance.proxy import Sent

READS = frozenset({"GET", "HEAD", "OPTIONS"})


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
        path = name.removeprefix("$.").split(".") if name not in {"", "$"} else []
        return body is not None and any(_contains(found, key) for found in _at_path(body, path))
    return False  # `stored`: no HTTP request shows it


class KeyInWrite:
    """A proxy rule's predicate: a write (not a read) that carries `key` as declared."""

    def __init__(self, where: str, name: str, key: str):
        self.where, self.name, self.key = where, name, key

    def __call__(self, sent: Sent) -> bool:
        return sent.method not in READS and carries(sent, self.where, self.name, self.key)


class AfterWrite:
    """A proxy rule's predicate: true for the requests after the write carrying `key` (the read-back),
    never for the write itself."""

    def __init__(self, write: KeyInWrite):
        self.write = write
        self.armed = False

    def __call__(self, sent: Sent) -> bool:
        if self.write(sent):
            self.armed = True
            return False
        return self.armed
