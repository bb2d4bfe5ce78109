"""Tool schemas in the form OpenAI's strict mode takes, and arguments in that form back to Pivot's.

Strict mode (structured outputs for function calls) guarantees that a model's arguments match the
schema, but it takes only a subset of JSON Schema: every object closed (`additionalProperties:
false`) with every property required, an optional property written as nullable instead; no
`default`, no length, property-count or uniqueness limits, no pattern with lookaround, only a few
string formats. A tool whose schema breaks a rule is sent without the guarantee (pydantic-ai
falls back silently) or refused. So every tool Pivot publishes is generated in that form, for every
client (Anthropic and Gemini take it as it is), and checked with the vendors' own code in the tests.

Two things strict mode cannot say are rewritten, and `from_strict` undoes the rewrite on the way in:

- an open map (`{"Name": "Acme", "AccountId": …}`: Salesforce fields, HubSpot properties) is a list
  of `{"name", "value"}` pairs, each value still typed;
- an object of any shape (no declared properties) is its JSON text, a string.

Optional properties are written `anyOf: [<schema>, {"type": "null"}]` (Anthropic's strict transform
refuses a `type` list), and exclusive bounds become inclusive ones (Gemini's schema has none: exact
for integers, in words for numbers).

`null` for an optional property means "not given": `from_strict` drops it, so the service sees the
call a non-strict client would have sent, and the duplicate-step guard compares equal calls equal.
Limits strict mode cannot carry (string lengths, property counts) are still enforced by the
service, which refuses a call with the fix; `describe_action` shows the full schema.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

DROPPED = ("title", "default", "examples", "$schema", "minLength", "maxLength", "propertyNames", "minProperties",
           "maxProperties", "uniqueItems", "patternProperties", "unevaluatedProperties", "unevaluatedItems",
           "contains", "minContains", "maxContains", "discriminator")
"""Keywords strict mode refuses or that mean nothing to it."""
STRICT_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
_LOOKAROUND = re.compile(r"(?<!\\)\(\?<?[=!]")
PAIR_NAME, PAIR_VALUE = "name", "value"

Schema = dict[str, Any]


def _defs(root: Mapping[str, Any]) -> Mapping[str, Any]:
    defs = root.get("$defs")
    return defs if isinstance(defs, Mapping) else {}


def deref(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node`, or the `$defs` entry its `$ref` points to."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = _defs(root).get(ref.removeprefix("#/$defs/"))
        if isinstance(target, Mapping):
            return deref(target, root)
    return node


def map_values(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The value schema of an open map (an object whose keys are data), or None."""
    if node.get("properties"):
        return None
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:
        return extra
    patterns = node.get("patternProperties")
    if isinstance(patterns, Mapping) and len(patterns) == 1:
        only = next(iter(patterns.values()))
        return only if isinstance(only, Mapping) else None
    return None


def is_free_object(node: Mapping[str, Any]) -> bool:
    """An object of any shape: nothing declared about its keys or values."""
    return (node.get("type") == "object" and not node.get("properties") and map_values(node) is None
            and node.get("additionalProperties") is not False)


def _accepts_null(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return (kind == "null" or (isinstance(kind, list) and "null" in kind)
            or any(_accepts_null(branch) for branch in node.get("anyOf", [])))


def nullable(node: Schema, default: Any = None) -> Schema:
    """`node` that also takes null, meaning "not given" (its default, if it has one, said in words).
    Written `anyOf: [node, {"type": "null"}]`, the form every vendor's strict mode takes (Anthropic's
    refuses a `type` list)."""
    note = f" (null: {json.dumps(default)})" if default else ""  # a falsy default goes without saying
    if _accepts_null(node):
        return {**node, "description": node["description"] + note} if note and "description" in node else node
    description = (str(node.get("description", "")).strip() + note).strip()
    body = {k: v for k, v in node.items() if k != "description"}
    branches = body["anyOf"] if set(body) == {"anyOf"} else [body]
    result: Schema = {"anyOf": [*branches, {"type": "null"}]}
    return {**result, "description": description} if description else result


def _pairs(values: Mapping[str, Any], node: Mapping[str, Any]) -> Schema:
    """An open map as a list of name/value pairs (strict mode has no open objects)."""
    name: Schema = {"type": "string"}
    patterns = node.get("patternProperties")
    if isinstance(patterns, Mapping) and len(patterns) == 1:
        name["pattern"] = next(iter(patterns))
    pair = {"type": "object", "properties": {PAIR_NAME: to_strict_node(name), PAIR_VALUE: to_strict_node(values)},
            "required": [PAIR_NAME, PAIR_VALUE], "additionalProperties": False}
    listed: Schema = {"type": "array", "items": pair}
    for size, count in (("minProperties", "minItems"), ("maxProperties", "maxItems")):
        if isinstance(node.get(size), int):
            listed[count] = node[size]
    what = str(node.get("description", "")).strip()
    listed["description"] = (what + " " if what else "") + "(as name/value pairs)"
    return listed


def to_strict_node(node: Mapping[str, Any]) -> Schema:
    """One schema node in strict form (see the module's docstring)."""
    if not isinstance(node, Mapping):
        return {}
    out: Schema = {k: v for k, v in node.items() if k not in DROPPED}
    if out.get("format") not in STRICT_FORMATS:
        out.pop("format", None)
    if isinstance(out.get("pattern"), str) and _LOOKAROUND.search(out["pattern"]):
        out.pop("pattern")
    if "oneOf" in out:
        out["anyOf"] = [*out.pop("oneOf"), *out.get("anyOf", [])]
    if isinstance(out.get("allOf"), list) and len(out["allOf"]) == 1:
        out = {**out.pop("allOf")[0], **out}
        return to_strict_node(out)
    if "anyOf" in out:
        out["anyOf"] = [to_strict_node(branch) for branch in out["anyOf"]]
    if "$ref" in out and len(out) > 1:  # strict mode takes no siblings beside a $ref, but beside anyOf
        out["anyOf"] = [{"$ref": out.pop("$ref")}]
    _inclusive_bounds(out)
    kind = out.get("type")
    if kind == "object":
        values = map_values(node)
        if values is not None:
            return _pairs(values, node)
        if is_free_object(node):
            return {"type": "string", "description": str(node.get("description") or "A JSON object, as text")}
        return _closed(out, node)
    if kind == "array" and isinstance(out.get("items"), Mapping):
        out["items"] = to_strict_node(out["items"])
    return out


def _inclusive_bounds(out: Schema) -> None:
    """Exclusive bounds as inclusive ones (Gemini's schema has none): exact for an integer; for a
    number, said in words (the service still enforces it)."""
    for exclusive, inclusive, step, word in (("exclusiveMinimum", "minimum", 1, ">"),
                                             ("exclusiveMaximum", "maximum", -1, "<")):
        if exclusive not in out:
            continue
        bound = out.pop(exclusive)
        if out.get("type") == "integer":
            out[inclusive] = int(bound) + step
        else:
            out["description"] = (str(out.get("description", "")) + f" ({word} {bound:g})").strip()


def _closed(out: Schema, node: Mapping[str, Any]) -> Schema:
    required = set(node.get("required", []))
    properties = node.get("properties", {})
    out["properties"] = {
        name: to_strict_node(prop) if name in required else nullable(to_strict_node(prop), prop.get("default"))
        for name, prop in properties.items()}
    out["required"] = list(properties)
    out["additionalProperties"] = False
    return out


def to_strict(schema: Mapping[str, Any]) -> Schema:
    """A whole schema (its `$defs` too) in strict form."""
    out = to_strict_node({k: v for k, v in schema.items() if k != "$defs"})
    defs = _defs(schema)
    if defs:
        out["$defs"] = {name: to_strict_node(node) for name, node in defs.items()}
    return out


def strict_problems(schema: Mapping[str, Any], path: str = "#") -> list[str]:
    """Where `schema` breaks a strict-mode rule (empty: it is strict-ready). Pivot's own reading of
    the rules, beside the vendors' code in the tests, so `pivot tools --strict` can refuse to print
    a tool that would be sent without the guarantee."""
    problems: list[str] = []
    problems += [f"{path}: {key} is not allowed" for key in DROPPED if key in schema]
    if "oneOf" in schema or "allOf" in schema or "not" in schema:
        problems.append(f"{path}: only anyOf combines schemas")
    if "format" in schema and schema["format"] not in STRICT_FORMATS:
        problems.append(f"{path}: format {schema['format']!r} is not supported")
    if isinstance(schema.get("pattern"), str) and _LOOKAROUND.search(schema["pattern"]):
        problems.append(f"{path}: the pattern uses lookaround")
    if "$ref" in schema and len(schema) > 1:
        problems.append(f"{path}: $ref with siblings")
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}: an object must be closed (additionalProperties: false)")
        if set(schema.get("required", [])) != set(schema.get("properties", {})):
            problems.append(f"{path}: every property must be required (optional ones nullable)")
    if schema.get("type") == "array" and not isinstance(schema.get("items"), Mapping):
        problems.append(f"{path}: an array needs typed items")
    for key in ("properties", "$defs"):
        for name, child in (schema.get(key) or {}).items():
            problems += strict_problems(child, f"{path}/{key}/{name}")
    for index, branch in enumerate(schema.get("anyOf", [])):
        problems += strict_problems(branch, f"{path}/anyOf/{index}")
    if isinstance(schema.get("items"), Mapping):
        problems += strict_problems(schema["items"], f"{path}/items")
    return problems


# -- arguments in strict form, back to what Pivot takes -------------------------------------------


def is_reference(value: Any) -> bool:
    """`{"$from": …}` or `{"$template": …}`: resolved by the saga, never rewritten here."""
    return isinstance(value, dict) and ("$from" in value or "$template" in value)


def _branches(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    node = deref(node, root)
    if "anyOf" in node:
        return [b for branch in node["anyOf"] for b in _branches(branch, root)]
    return [node]


def from_strict(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """`value`, written against the strict form of `schema` (a node of the original schema `root`),
    as the original schema takes it: optional nulls dropped, pairs back into maps, JSON text back
    into objects. A value that is already in the original form passes unchanged."""
    if is_reference(value):
        return value
    branches = _branches(schema, root)
    if isinstance(value, dict):
        for branch in branches:
            if branch.get("properties"):
                required, properties = set(branch.get("required", [])), branch["properties"]
                return {key: from_strict(item, properties.get(key, {}), root) for key, item in value.items()
                        if item is not None or key in required}
            values = map_values(branch)
            if values is not None:
                return {key: from_strict(item, values, root) for key, item in value.items()}
        return value
    if isinstance(value, list):
        for branch in branches:
            values = map_values(branch)
            if values is not None and all(isinstance(p, dict) and set(p) == {PAIR_NAME, PAIR_VALUE} for p in value):
                return {str(p[PAIR_NAME]): from_strict(p[PAIR_VALUE], values, root) for p in value}
        for branch in branches:
            if isinstance(branch.get("items"), Mapping):
                return [from_strict(item, branch["items"], root) for item in value]
        return value
    if isinstance(value, str) and any(is_free_object(b) for b in branches) and not any(
            b.get("type") == "string" for b in branches):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value  # the service refuses it, naming the field
        return parsed if isinstance(parsed, dict) else value
    return value
