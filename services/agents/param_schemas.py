"""An action's params as tools publish them: its own model's schema, compact, and saying where a
verified value of an earlier step may stand in for a literal.

A later step often needs what an earlier one verified (the invoice number Stripe assigned, the
contact id HubSpot returned): `{"$from": "invoice.number"}`, or a text around such values,
`{"$template": "Invoice {invoice.number} is on its way"}`. A client that validates a model's
arguments against the tool's schema (strict mode does, by construction) refuses a `$from` where the
schema says `pattern: ^cus_…`, so each place that may take one says so: `anyOf: [<its own schema,
patterns and enums kept>, {"$ref": "#/$defs/ref"}]`, with one small `ref` definition per tool.

Where: every top-level param that takes a value (ids, amounts, texts, lists, objects), not booleans
or enum choices, which a model decides itself. Not nested fields: each reference costs a tool about
40 characters and the definition about 300, on every turn of every model, and a whole list or
object may still be a reference (`"lines": {"$from": "quote.lines"}`). The service resolves a
reference anywhere in params, so a client that does not validate may still nest one.

Two forms come out of here. The *wire* form is what Pivot's HTTP API, a plan and `describe_action`
speak (open maps as objects, every limit kept); the *tool* form is its strict-mode rewrite
(`strict_schema`), which tool arguments use, and `wire_params` turns those arguments back.
"""

from functools import cache
from typing import Any

from pydantic import BaseModel

from pivot.compensations.actions import Action
from pivot.services.agents.strict_schema import Schema, from_strict, to_strict

REF = {"$ref": "#/$defs/ref"}
REF_DEF: Schema = {"anyOf": [
    {"type": "object", "properties": {"$from": {"type": "string"}}, "required": ["$from"],
     "additionalProperties": False},
    {"type": "object", "properties": {"$template": {"type": "string"}}, "required": ["$template"],
     "additionalProperties": False},
]}
"""An earlier step's verified value, `{"$from": "<step>.<field>"}`, or a text with some,
`{"$template": "Invoice {<step>.<field>} sent"}`: said once per tool, each place that takes one points here.
What the two keys mean is said once per server (its instructions) and per step tool (one sentence),
not here, where it would be repeated in every tool."""


def compact(node: Any) -> Any:
    """A pydantic schema without its `title`s (a title repeats the property's own name)."""
    if isinstance(node, dict):
        return {k: compact(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [compact(v) for v in node]
    return node


def model_schema(model: type[BaseModel]) -> Schema:
    """A model's compact JSON Schema, its `$defs` at the root."""
    schema: Schema = compact(model.model_json_schema(ref_template="#/$defs/{model}"))
    return schema


def _or_ref(node: Schema) -> Schema:
    """`node` or a reference; its description (and default) stay outside, so they are said once."""
    outside = {k: v for k, v in node.items() if k in {"description", "default"}}
    body = {k: v for k, v in node.items() if k not in outside}
    if "anyOf" in body and len(body) == 1:
        branches = body["anyOf"]
        return {**outside, "anyOf": branches if REF in branches else [*branches, REF]}
    return {**outside, "anyOf": [body, REF]}


def _takes_values(node: Schema) -> bool:
    """Whether a verified value is plausible here: not a boolean, not an enum choice (a model
    decides those itself), anything else (ids, amounts, texts, lists of them, objects)."""
    branches = node.get("anyOf", [node])
    return any(b.get("type") not in {"boolean", "null"} and not {"enum", "const"} & b.keys() for b in branches)


def _top(node: Schema) -> Schema:
    """A top-level param: the whole value may be a reference."""
    return _or_ref(node) if _takes_values(node) else node


@cache
def _wire(model: type[BaseModel]) -> Schema:
    schema = model_schema(model)
    schema["properties"] = {k: _top(v) for k, v in schema.get("properties", {}).items()}
    schema["$defs"] = {**schema.get("$defs", {}), "ref": REF_DEF}
    return schema


def wire_params_schema(action: Action) -> Schema:
    """The action's params as Pivot's API takes them, references allowed (a whole schema, `$defs`
    inside). A fresh copy: callers may change it."""
    copy: Schema = compact(_wire(action.params))  # compact() copies
    return copy


def tool_params_schema(action: Action) -> tuple[Schema, Schema]:
    """The strict form for a tool's `params` property, and the `$defs` to hoist to the tool's root."""
    strict = to_strict(_wire(action.params))
    defs = strict.pop("$defs", {})
    return strict, defs


def wire_params(action: Action, params: Any) -> Any:
    """A tool's `params` argument (strict form, or already the wire form) as Pivot's API takes it."""
    wire = _wire(action.params)
    return from_strict(params, wire, wire)


def param_paths(action: Action) -> list[str]:
    """The action's top-level params, `*` marking the required ones (for `find_actions`)."""
    wire = _wire(action.params)
    required = set(wire.get("required", []))
    return [f"{name}{'*' if name in required else ''}" for name in wire.get("properties", {})]

