"""Form bodies the way Stripe reads them, and typed, validated access to one request's params.

Stripe bodies are `application/x-www-form-urlencoded` with bracket nesting (`metadata[k]=v`,
`expand[]=x`, `lines[0][amount]=1`); every value arrives as a string, so each endpoint says which
params it allows and reads each with the type it expects, answering Stripe's validation errors.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from pivot.providers.stripe.sandbox.common import JsonDict
from pivot.providers.stripe.sandbox.errors import invalid

MAX_METADATA_KEYS = 50
_CURRENCY = re.compile(r"^[a-z]{3}$")
EXPAND = frozenset({"expand"})

def _split_key(key: str) -> list[str]:
    """`lines[0][amount]` -> ['lines', '0', 'amount']; `expand[]` -> ['expand', '']."""
    head, bracket, rest = key.partition("[")
    if not bracket or not rest.endswith("]"):
        return [key]
    parts = [head]
    for piece in ("[" + rest).split("]")[:-1]:
        if not piece.startswith("["):
            return [key]
        parts.append(piece[1:])
    return parts


def _assign(node: JsonDict, parts: list[str], value: str, full_key: str) -> None:
    name, rest = parts[0], parts[1:]
    if not rest:
        if name in node and isinstance(node[name], (dict, list)):
            raise invalid(f"Invalid hash: {full_key}", param=full_key)
        node[name] = value
        return
    if rest == [""]:
        current = node.setdefault(name, [])
        if not isinstance(current, list):
            raise invalid(f"Invalid array: {full_key}", param=full_key)
        current.append(value)
        return
    child = node.setdefault(name, {})
    if isinstance(child, list):  # `a[][b]=x`: each bracket-less push starts a new hash
        child.append({})
        target = child[-1]
        _assign(target, rest[1:] if rest[0] == "" else rest, value, full_key)
        return
    if not isinstance(child, dict):
        raise invalid(f"Invalid hash: {full_key}", param=full_key)
    _assign(child, rest, value, full_key)


def _listify(value: Any) -> Any:
    """Hashes whose keys are all indices (`lines[0]`, `lines[1]`) are arrays to Stripe."""
    if isinstance(value, list):
        return [_listify(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def parse_form(raw: str) -> JsonDict:
    """Decode an `application/x-www-form-urlencoded` body the way Stripe reads it."""
    root: JsonDict = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        _assign(root, _split_key(key), value, key)
    result = _listify(root)
    return result if isinstance(result, dict) else {}


class Params:
    """Typed access to one request's parameters, with Stripe's validation messages."""

    def __init__(self, data: JsonDict, allowed: frozenset[str]) -> None:
        for name in data:
            if name not in allowed:
                raise invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")
        self.data = data

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
        """A string param; None when absent. An empty string means "unset" to Stripe."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {value!r}", param=name)
        if len(value) > max_length:
            raise invalid(
                f"Invalid string: {value[:20]}...; must be at most {max_length} characters", param=name
            )
        if required and value == "":
            raise invalid(
                f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
                f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' from "
                "your request or supply a non-empty value.",
                param=name,
                code="parameter_invalid_empty",
            )
        return value

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = self.data.get(name)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
            raise invalid(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer")
        value = int(raw)
        if minimum is not None and value < minimum:
            raise invalid(f"This value must be greater than or equal to {minimum}.", param=name)
        if maximum is not None and value > maximum:
            raise invalid(f"This value must be less than or equal to {maximum}.", param=name)
        return value

    def boolean(self, name: str) -> bool | None:
        raw = self.data.get(name)
        if raw is None or raw == "":
            return None
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise invalid(f"Invalid boolean: {raw}", param=name)

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        if value not in choices:
            listed = ", ".join(f"`{choice}`" for choice in choices)
            raise invalid(f"Invalid {name}: must be one of {listed}", param=name)
        return value

    def currency(self, name: str = "currency") -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        value = value.lower()
        if not _CURRENCY.match(value):
            raise invalid(
                f"Invalid currency: {value}. Must be a three-letter ISO currency code, in lowercase.",
                param=name,
            )
        return value

    def metadata(self) -> JsonDict | None:
        """`metadata[k]=v` pairs; `metadata=` (empty) means "clear all", returned as {}."""
        raw = self.data.get("metadata")
        if raw is None:
            return None
        if raw == "":
            return {}
        if not isinstance(raw, dict):
            raise invalid("Invalid hash", param="metadata")
        if len(raw) > MAX_METADATA_KEYS:
            raise invalid(f"Invalid metadata: metadata can have at most {MAX_METADATA_KEYS} keys.",
                           param="metadata")
        for key, value in raw.items():
            if not isinstance(value, str):
                raise invalid(f"Invalid metadata[{key}]: must be a string", param=f"metadata[{key}]")
            if len(key) > 40:
                raise invalid("Invalid metadata: keys can be at most 40 characters.",
                               param=f"metadata[{key}]")
            if len(value) > 500:
                raise invalid("Invalid metadata: values can be at most 500 characters.",
                               param=f"metadata[{key}]")
        return dict(raw)

    def expand(self) -> list[str]:
        raw = self.data.get("expand")
        if raw is None or raw == "":
            return []
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise invalid("Invalid array", param="expand")
        return list(raw)


def merge_metadata(current: JsonDict, update: JsonDict | None, *, clear_all: bool) -> JsonDict:
    """Stripe's update semantics: keys merge, an empty value deletes a key, `metadata=` clears."""
    if update is None:
        return current
    if clear_all:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged

