"""Trim the official Stripe and Slack OpenAPI specs to what Pivot's clients and sandboxes use.

    .venv/bin/python tests/data/openapi/trim.py \
        --stripe /work/shared/specs/stripe/spec3.yaml \
        --slack /work/shared/specs/slack/slack_web_openapi_v2.json \
        --out tests/data/openapi

Both specs are MIT-licensed (LICENSE-stripe, LICENSE-slack beside the output). The trimmed files
keep only the operations listed below and every schema reachable from them through `$ref`, so the
conformance tests run without the 4 MB originals. Reading the Stripe YAML needs PyYAML (only this
script does; the tests read the JSON output).

Transforms, all mechanical and listed here so the output can be regenerated and reviewed:
1. Dropped: `description`, `examples`/`example`, `externalDocs`, `summary` and `x-*` vendor keys
   (documentation only; JSON Schema ignores them anyway).
2. Stripe (OpenAPI 3.0) `nullable: true` has no JSON Schema meaning, so `{..., nullable: true}`
   becomes `{"anyOf": [{...}, {"type": "null"}]}` (the schema without `nullable`, or null). This is
   exact: 3.0's nullable only adds null to the accepted values.
3. Slack (Swagger 2.0, the 2021 spec v1.7.0) predates message metadata and is wrong in a few places
   that real Slack responses contradict. The errata below patch exactly those places:
   - chat.postMessage and chat.update take `metadata` (a JSON object; JSON-encoded in form bodies),
     conversations.history and conversations.replies take `include_all_metadata`; documented on
     api.slack.com since 2022.
   - a message object may carry `app_id`, `metadata` ({event_type, event_payload}) and `edited`
     ({user, ts}); real messages do, and the spec's message object forbids unknown properties.
   - conversations.history and conversations.replies answer `response_metadata.next_cursor`
     (cursor pagination, which the spec's own `cursor` parameters describe), and an empty channel
     answers `messages: []` (the spec says minItems 1).
   - error enums gain `ratelimited` (what Slack sends today; the spec lists only `rate_limited`),
     `message_not_found`, `cant_update_message`, `edit_window_closed`, `cant_delete_message`,
     `invalid_metadata_format`, `invalid_metadata_schema` and `metadata_too_large` (documented
     errors of those methods that the 2021 spec does not list).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

STRIPE_OPERATIONS = [
    ("/v1/customers", "get"),
    ("/v1/customers", "post"),
    ("/v1/customers/{customer}", "get"),
    ("/v1/customers/{customer}", "delete"),
    ("/v1/invoices", "get"),
    ("/v1/invoices", "post"),
    ("/v1/invoices/{invoice}", "get"),
    ("/v1/invoices/{invoice}", "post"),
    ("/v1/invoices/{invoice}", "delete"),
    ("/v1/invoices/{invoice}/finalize", "post"),
    ("/v1/invoices/{invoice}/void", "post"),
    ("/v1/invoices/{invoice}/pay", "post"),
    ("/v1/invoices/{invoice}/send", "post"),
    ("/v1/invoiceitems", "post"),
    ("/v1/payment_intents", "get"),
    ("/v1/payment_intents", "post"),
    ("/v1/payment_intents/{intent}", "get"),
    ("/v1/payment_intents/{intent}/confirm", "post"),
    ("/v1/payment_intents/{intent}/cancel", "post"),
    ("/v1/payment_intents/{intent}/capture", "post"),
    ("/v1/charges/{charge}", "get"),
    ("/v1/refunds", "get"),
    ("/v1/refunds", "post"),
    ("/v1/refunds/{refund}", "get"),
]
SLACK_OPERATIONS = [
    ("/auth.test", "get"),
    ("/chat.postMessage", "post"),
    ("/chat.update", "post"),
    ("/chat.delete", "post"),
    ("/chat.getPermalink", "get"),
    ("/chat.postEphemeral", "post"),
    ("/conversations.history", "get"),
    ("/conversations.replies", "get"),
    ("/users.info", "get"),
]
DROPPED_KEYS = frozenset({"description", "examples", "example", "externalDocs", "summary"})
SLACK_EXTRA_ERRORS = ["ratelimited", "message_not_found", "cant_update_message", "edit_window_closed",
                      "cant_delete_message", "invalid_metadata_format", "invalid_metadata_schema",
                      "metadata_too_large"]


def strip_docs(node: Any) -> Any:
    """Transform 1: drop documentation and vendor keys (property *names* are kept)."""
    if isinstance(node, list):
        return [strip_docs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: strip_docs(schema) for name, schema in value.items()}
        elif key in DROPPED_KEYS or key.startswith("x-"):
            continue
        else:
            out[key] = strip_docs(value)
    return out


def nullable_to_anyof(node: Any) -> Any:
    """Transform 2: OpenAPI 3.0 `nullable: true` -> anyOf [schema, null]."""
    if isinstance(node, list):
        return [nullable_to_anyof(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: (nullable_to_anyof(value) if key != "properties" else
                       {name: nullable_to_anyof(schema) for name, schema in value.items()})
                 for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= refs_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs_in(item)
    return found


def closure(document: dict[str, Any], roots: Any, prefix: str) -> dict[str, Any]:
    """Every schema under `prefix` (e.g. "#/components/schemas/") reachable from `roots`."""
    table = document
    for part in prefix.strip("#/").split("/"):
        table = table[part]
    kept: dict[str, Any] = {}
    pending = [ref for ref in refs_in(roots) if ref.startswith(prefix)]
    while pending:
        name = pending.pop().removeprefix(prefix)
        if name in kept:
            continue
        kept[name] = table[name]
        pending += [ref for ref in refs_in(table[name]) if ref.startswith(prefix)]
    return dict(sorted(kept.items()))


def trim_stripe(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method in STRIPE_OPERATIONS:
        paths.setdefault(path, {})[method] = spec["paths"][path][method]
    schemas = closure(spec, paths, "#/components/schemas/")
    trimmed = {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"],
                 "x-trimmed-by": "tests/data/openapi/trim.py"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    result: dict[str, Any] = nullable_to_anyof(strip_docs(trimmed))
    result["info"]["x-trimmed-by"] = "tests/data/openapi/trim.py"
    _ensure_closed(result, "#/components/schemas/")
    return result


def _slack_errata(doc: dict[str, Any]) -> None:
    """Transform 3 (see the module docstring)."""
    paths, definitions = doc["paths"], doc["definitions"]
    metadata_param = {"in": "formData", "name": "metadata", "type": "string", "required": False}
    for path in ("/chat.postMessage", "/chat.update"):
        paths[path]["post"]["parameters"].append(dict(metadata_param))
    for path in ("/conversations.history", "/conversations.replies"):
        paths[path]["get"]["parameters"].append(
            {"in": "query", "name": "include_all_metadata", "type": "boolean", "required": False})
    message = definitions["objs_message"]["properties"]
    message["app_id"] = {"$ref": "#/definitions/defs_app_id"}
    message["metadata"] = {
        "type": "object", "additionalProperties": False, "required": ["event_type", "event_payload"],
        "properties": {"event_type": {"type": "string"}, "event_payload": {"type": "object"}},
    }
    message["edited"] = {
        "type": "object", "additionalProperties": False, "required": ["user", "ts"],
        "properties": {"user": {"$ref": "#/definitions/defs_user_id"}, "ts": {"$ref": "#/definitions/defs_ts"}},
    }
    for path in ("/conversations.history", "/conversations.replies"):
        listing = paths[path]["get"]["responses"]["200"]["schema"]
        listing["properties"]["response_metadata"] = {"$ref": "#/definitions/objs_response_metadata"}
        listing["properties"]["messages"].pop("minItems", None)
    for item in paths.values():
        for operation in item.values():
            default = operation.get("responses", {}).get("default", {}).get("schema", {})
            error = default.get("properties", {}).get("error", {})
            if isinstance(error.get("enum"), list):
                error["enum"] = [*error["enum"], *[e for e in SLACK_EXTRA_ERRORS if e not in error["enum"]]]


def trim_slack(spec: dict[str, Any]) -> dict[str, Any]:
    full: dict[str, Any] = strip_docs(spec)
    paths: dict[str, dict[str, Any]] = {}
    for path, method in SLACK_OPERATIONS:
        paths.setdefault(path, {})[method] = copy.deepcopy(full["paths"][path][method])
    doc: dict[str, Any] = {
        "swagger": full["swagger"],
        "info": {"title": full["info"]["title"], "version": full["info"]["version"],
                 "x-trimmed-by": "tests/data/openapi/trim.py"},
        "basePath": full.get("basePath", "/api"),
        "paths": paths,
        "definitions": copy.deepcopy(full["definitions"]),
    }
    _slack_errata(doc)
    doc["definitions"] = closure(doc, doc["paths"], "#/definitions/")
    _ensure_closed(doc, "#/definitions/")
    return doc


def _ensure_closed(doc: dict[str, Any], prefix: str) -> None:
    table = doc
    for part in prefix.strip("#/").split("/"):
        table = table[part]
    missing = {ref.removeprefix(prefix) for ref in refs_in(doc) if ref.startswith(prefix)} - set(table)
    if missing:
        raise SystemExit(f"unresolved references after trimming: {sorted(missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stripe", type=Path, required=True, help="spec3.yaml (Stripe API 2023-08-16)")
    parser.add_argument("--slack", type=Path, required=True, help="slack_web_openapi_v2.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import yaml  # only this script needs PyYAML

    stripe = yaml.load(args.stripe.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    slack = json.loads(args.slack.read_text())
    for name, document in (("stripe", trim_stripe(stripe)), ("slack", trim_slack(slack))):
        target = args.out / f"{name}.json"
        target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"{target}: {len(document['paths'])} paths, {target.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
