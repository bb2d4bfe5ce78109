"""Conformance with the official OpenAPI specs: the Stripe and Slack clients' requests and the
sandbox' responses, validated with `jsonschema` against trimmed copies of the specs.

The real clients run real catalog actions against the sandbox; each sandbox records what it
received and answered (`GET /_sandbox/requests`), and every exchange is checked:
- Stripe (OpenAPI 3.0): the form body (or query) decoded the way Stripe decodes it, its string
  values coerced to the types the spec names (form encoding carries only strings), against the
  operation's request schema (`additionalProperties: false`, so an unknown parameter fails);
  the JSON answer against the schema of its status (or `default`, Stripe's error body), with
  object schemas closed so that the sandbox cannot answer a field Stripe does not have.
- Slack (Swagger 2.0): every argument, JSON body or query, is a declared parameter of the method
  with the declared type and the required ones are present (the `token` parameter, in a header
  or the query, is sent as the Authorization header); `ok: true` answers against the method's
  200 schema, `ok: false` ones against its `default` error schema.
`$ref`s resolve inside the trimmed document (registered once with `referencing`). How the specs
were trimmed, and the few documented errata applied to Slack's 2021 spec, is in
tests/data/openapi/trim.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from pivot.compensations.keys import StepKeys
from pivot.providers.slack.actions import slack_actions
from pivot.providers.slack.client import SlackClient
from pivot.providers.stripe.actions import stripe_actions
from pivot.providers.stripe.client import StripeClient
from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID, parse_form
from tests.providers.step_keys import new_keys

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]



OPENAPI = Path(__file__).resolve().parents[1] / "data" / "openapi"
SHARED_SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"
STRIPE_URI, SLACK_URI = "urn:pivot:openapi:stripe", "urn:pivot:openapi:slack"
STRICT_STRIPE_URI = "urn:pivot:openapi:stripe-strict"
JSON_ARGS = frozenset({"metadata", "blocks", "attachments"})
"""Slack arguments that a JSON body carries as JSON values and a form body as JSON strings."""


@cache
def spec(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((OPENAPI / f"{name}.json").read_text())
    return document


def closed_objects(node: Any) -> Any:
    """Stripe's object schemas list every field but allow others; for the sandbox's answers we
    close them (`additionalProperties: false` where unspecified), so the sandbox cannot invent a
    field real Stripe does not send."""
    if isinstance(node, list):
        return [closed_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: ({name: closed_objects(schema) for name, schema in value.items()} if key == "properties"
                    else closed_objects(value)) for key, value in node.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


@cache
def registry() -> Registry:
    return Registry().with_resources([
        (STRIPE_URI, Resource.from_contents(spec("stripe"), default_specification=DRAFT4)),
        (STRICT_STRIPE_URI, Resource.from_contents(closed_objects(spec("stripe")), default_specification=DRAFT4)),
        (SLACK_URI, Resource.from_contents(spec("slack"), default_specification=DRAFT4)),
    ])


def pointer(*parts: str) -> str:
    return "#" + quote("/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts), safe="/~")


def errors_of(instance: Any, base: str, *parts: str) -> list[str]:
    """Validation errors of `instance` against the schema at `parts` of the `base` document."""
    validator = jsonschema.Draft4Validator({"$ref": base + pointer(*parts)}, registry=registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)]


def schema_errors(instance: Any, base: str, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator({**schema, "id": base}, registry=registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)]


# --------------------------------------------------------------------------- Stripe


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = spec("stripe")
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def coerce_form(value: Any, schema: dict[str, Any]) -> Any:
    """Form values are strings; give each the type its schema names (trying anyOf's branches)."""
    schema = _deref(schema)
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            candidate = coerce_form(value, option)
            if not schema_errors(candidate, STRIPE_URI, option):
                return candidate
        return value
    kind = schema.get("type")
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
        return value
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {key: coerce_form(item, properties.get(key) or (extra if isinstance(extra, dict) else {}))
                for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_form(item, schema.get("items", {})) for item in value]
    return value


def stripe_operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in spec("stripe")["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the trimmed Stripe spec (add it to trim.py)")


def stripe_request_errors(exchange: dict[str, Any]) -> list[str]:
    template, operation = stripe_operation(exchange["method"], exchange["path"])
    method = exchange["method"].lower()
    if exchange["method"] == "POST":
        body = parse_form(exchange["body"])
        form = operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded")
        if form is None:
            return [f"unexpected body {body}"] if body else []
        return errors_of(coerce_form(body, form["schema"]), STRIPE_URI, "paths", template, method, "requestBody",
                         "content", "application/x-www-form-urlencoded", "schema")
    query = parse_form(exchange["query"])
    params = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
    shape = {"type": "object", "additionalProperties": False, "properties": params}
    return schema_errors(coerce_form(query, shape), STRIPE_URI, shape)


def stripe_response_errors(exchange: dict[str, Any]) -> list[str]:
    template, operation = stripe_operation(exchange["method"], exchange["path"])
    status = str(exchange["status"])
    which = status if status in operation["responses"] else "default"
    return errors_of(exchange["response_body"], STRICT_STRIPE_URI, "paths", template, exchange["method"].lower(),
                     "responses", which, "content", "application/json", "schema")


async def run_stripe_scenario(client: StripeClient, sandbox: Boxes) -> list[dict[str, Any]]:
    """Every Stripe action, forward and compensation, plus a decline and a refused refund."""
    actions = {action.name: action for action in stripe_actions(client)}

    async def forward(name: str, params: dict[str, Any], keys: StepKeys | None = None) -> dict[str, Any]:
        action = actions[name]
        return await action.forward(action.params.model_validate(params), keys or new_keys(name))

    async def compensate(name: str, params: dict[str, Any], keys: StepKeys, result: Any) -> None:
        action = actions[name]
        assert action.compensate is not None
        await action.compensate(action.params.model_validate(params), keys, result)

    customer_keys = new_keys("stripe.create_customer")
    customer_params = {"email": "spec@example.com", "name": "Spec Check", "description": "conformance"}
    customer = await forward("stripe.create_customer", customer_params, customer_keys)
    invoice_params = {"customer": SEED_CUSTOMER_ID, "description": "conformance",
                      "lines": [{"amount": 1200, "currency": "usd", "description": "a"},
                                {"amount": 800, "currency": "usd", "description": "b"}]}
    invoice_keys = new_keys("stripe.create_invoice")
    invoice = await forward("stripe.create_invoice", invoice_params, invoice_keys)
    await forward("stripe.send_invoice", {"invoice": invoice["id"]})
    await compensate("stripe.create_invoice", invoice_params, invoice_keys, invoice)
    lost_keys = new_keys("stripe.create_invoice")  # an undo whose forward answer was lost: found by listing
    await forward("stripe.create_invoice", invoice_params, lost_keys)
    await compensate("stripe.create_invoice", invoice_params, lost_keys, None)
    charge_params = {"amount": 5000, "currency": "usd", "customer": SEED_CUSTOMER_ID,
                     "payment_method": "pm_card_visa", "description": "conformance"}
    charge_keys = new_keys("stripe.charge")
    charge = await forward("stripe.charge", charge_params, charge_keys)
    await forward("stripe.refund", {"payment_intent": charge["id"], "amount": 1000})
    with pytest.raises(Exception, match="greater than"):
        await forward("stripe.refund", {"payment_intent": charge["id"], "amount": 99_999})
    await compensate("stripe.charge", charge_params, charge_keys, charge)
    declined_keys = new_keys("stripe.charge")
    declined_params = {**charge_params, "payment_method": "pm_card_chargeDeclined"}
    with pytest.raises(Exception, match="declined"):
        await forward("stripe.charge", declined_params, declined_keys)
    await compensate("stripe.charge", declined_params, declined_keys, None)
    await compensate("stripe.create_customer", customer_params, customer_keys, customer)
    await client.get(f"/v1/customers/{customer['id']}")  # the deleted stub
    await client.get("/v1/payment_intents/pi_doesNotExist")  # a 404 error body
    return sandbox.stripe.requests()


STRIPE_COVERED = {
    ("GET", "/v1/customers"), ("POST", "/v1/customers"), ("GET", "/v1/customers/{customer}"),
    ("DELETE", "/v1/customers/{customer}"), ("GET", "/v1/invoices"), ("POST", "/v1/invoices"),
    ("GET", "/v1/invoices/{invoice}"), ("POST", "/v1/invoices/{invoice}"), ("POST", "/v1/invoiceitems"),
    ("POST", "/v1/invoices/{invoice}/finalize"), ("POST", "/v1/invoices/{invoice}/void"),
    ("POST", "/v1/invoices/{invoice}/send"), ("GET", "/v1/payment_intents"), ("POST", "/v1/payment_intents"),
    ("GET", "/v1/payment_intents/{intent}"), ("POST", "/v1/payment_intents/{intent}/confirm"),
    ("POST", "/v1/payment_intents/{intent}/cancel"), ("GET", "/v1/refunds"), ("POST", "/v1/refunds"),
    ("GET", "/v1/refunds/{refund}"),
}


async def test_stripe_client_requests_validate_against_the_spec(
    stripe_client: StripeClient, sandbox: Boxes
) -> None:
    exchanges = await run_stripe_scenario(stripe_client, sandbox)

    covered = {(e["method"], stripe_operation(e["method"], e["path"])[0]) for e in exchanges}
    assert covered >= STRIPE_COVERED, f"scenario misses {STRIPE_COVERED - covered}"
    problems = {f"{e['method']} {e['path']} {e['body'] or e['query']}": stripe_request_errors(e) for e in exchanges}
    assert {request: found for request, found in problems.items() if found} == {}
    assert all(e["headers"].get("idempotency-key") for e in exchanges if e["method"] == "POST")
    assert all(e["headers"].get("authorization") == "[redacted]" for e in exchanges)


async def test_stripe_sandbox_responses_validate_against_the_spec(
    stripe_client: StripeClient, sandbox: Boxes
) -> None:
    exchanges = await run_stripe_scenario(stripe_client, sandbox)

    statuses = {e["status"] for e in exchanges}
    assert {200, 400, 402, 404} <= statuses
    problems = {f"{e['method']} {e['path']} -> {e['status']}": stripe_response_errors(e) for e in exchanges}
    assert {response: found for response, found in problems.items() if found} == {}


async def test_the_stripe_check_is_not_vacuous() -> None:
    """A request the spec forbids and a response missing required fields are both caught."""
    bad_request = {"method": "POST", "path": "/v1/payment_intents", "query": "",
                   "body": "amount=ten&currency=usd&colour=blue"}
    found = stripe_request_errors(bad_request)
    assert any("colour" in problem for problem in found) and any("amount" in problem for problem in found)
    bad_response = {"method": "GET", "path": "/v1/refunds/re_1", "status": 200,
                    "response_body": {"id": "re_1", "object": "refund", "amount": "10"}}
    found = stripe_response_errors(bad_response)
    assert any("amount" in problem for problem in found) and any("created" in problem for problem in found)
    invented = {**bad_response, "response_body": {"id": "re_1", "object": "refund", "amount": 10, "created": 1,
                                                  "currency": "usd", "colour": "blue"}}
    assert any("colour" in problem for problem in stripe_response_errors(invented))


# --------------------------------------------------------------------------- Slack


def slack_args(exchange: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = dict(parse_qsl(exchange["query"], keep_blank_values=True))
    content_type = exchange["headers"].get("content-type", "")
    if exchange["body"] and content_type.startswith("application/json"):
        body = json.loads(exchange["body"])
        args.update({name: json.dumps(value) if name in JSON_ARGS and not isinstance(value, str) else value
                     for name, value in body.items()})
    elif exchange["body"]:
        args.update(parse_qsl(exchange["body"], keep_blank_values=True))
    return args


def _coerce_arg(value: Any, kind: str | None) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "boolean" and value in ("true", "false", "1", "0"):
        return value in ("true", "1")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    return value


def slack_request_errors(exchange: dict[str, Any]) -> list[str]:
    method_name = exchange["path"].removeprefix("/api/")
    operation = spec("slack")["paths"].get(f"/{method_name}", {}).get(exchange["method"].lower())
    if operation is None:
        return [f"{exchange['method']} /{method_name} is not in the trimmed Slack spec"]
    declared = {p["name"]: p for p in operation["parameters"] if p["name"] != "token"}
    args = slack_args(exchange)
    problems = [f"undeclared argument {name!r}" for name in args if name not in declared]
    problems += [f"missing required argument {name!r}" for name, p in declared.items()
                 if p.get("required") and name not in args]
    for name, value in args.items():
        if name in declared:
            kind = declared[name].get("type")
            problems += [f"{name}: {p}" for p in schema_errors(_coerce_arg(value, kind), SLACK_URI, {"type": kind})]
    token_required = any(p["name"] == "token" and p.get("required") for p in operation["parameters"])
    if token_required and exchange["headers"].get("authorization") != "[redacted]":
        problems.append("no token: the Authorization header is missing")
    return problems


def slack_response_errors(exchange: dict[str, Any]) -> list[str]:
    method_name = exchange["path"].removeprefix("/api/")
    body = exchange["response_body"]
    if exchange["status"] != 200:  # 429 is outside the spec: check Slack's documented shape
        return [] if body == {"ok": False, "error": "ratelimited"} else [f"unexpected {exchange['status']}: {body}"]
    which = "200" if body.get("ok") else "default"
    return errors_of(body, SLACK_URI, "paths", f"/{method_name}", exchange["method"].lower(), "responses", which,
                     "schema")


async def run_slack_scenario(client: SlackClient, sandbox: Boxes) -> list[dict[str, Any]]:
    actions = {action.name: action for action in slack_actions(client)}
    channel = "C024BE91L"

    async def step(name: str, params: dict[str, Any], undo: bool = False) -> dict[str, Any]:
        action = actions[name]
        keys = new_keys(name)
        model = action.params.model_validate(params)
        result = await action.forward(model, keys)
        if undo:
            assert action.compensate is not None
            await action.compensate(model, keys, result)
        return result

    parent = await step("slack.post_message", {"channel": channel, "text": "Invoice 7 sent", "on_undo": "correct"},
                        undo=True)
    await step("slack.post_message", {"channel": channel, "text": "reply", "thread_ts": parent["ts"]})
    await step("slack.update_message", {"channel": channel, "ts": parent["ts"], "text": "Invoice 7 voided"},
               undo=True)
    await step("slack.post_message", {"channel": channel, "text": "bye", "on_undo": "delete"}, undo=True)
    with pytest.raises(Exception, match="channel_not_found"):
        await step("slack.post_message", {"channel": "C0NOSUCHCH", "text": "x"})
    await client.call("chat.getPermalink", {"channel": channel, "message_ts": parent["ts"]}, read=True)
    await client.call("auth.test", {}, read=True)
    return sandbox.slack.requests()


async def test_slack_client_requests_validate_against_the_spec(slack_client: SlackClient, sandbox: Boxes) -> None:
    exchanges = await run_slack_scenario(slack_client, sandbox)

    methods = {e["path"] for e in exchanges}
    assert {"/api/chat.postMessage", "/api/chat.update", "/api/chat.delete", "/api/conversations.history",
            "/api/conversations.replies"} <= methods
    problems = {f"{e['method']} {e['path']} {slack_args(e)}": slack_request_errors(e) for e in exchanges}
    assert {request: found for request, found in problems.items() if found} == {}


async def test_slack_sandbox_responses_validate_against_the_spec(slack_client: SlackClient, sandbox: Boxes) -> None:
    exchanges = await run_slack_scenario(slack_client, sandbox)

    assert any(not (e["response_body"] or {}).get("ok", True) for e in exchanges)  # an error answer is checked
    problems = {f"{e['method']} {e['path']} -> {str(e['response_body'])[:80]}": slack_response_errors(e)
                for e in exchanges}
    assert {response: found for response, found in problems.items() if found} == {}


async def test_the_slack_check_is_not_vacuous() -> None:
    bad = {"method": "POST", "path": "/api/chat.postMessage", "query": "",
           "headers": {"content-type": "application/json"},
           "body": json.dumps({"text": "no channel", "colour": "blue"})}
    found = slack_request_errors(bad)
    assert "undeclared argument 'colour'" in found and "missing required argument 'channel'" in found
    assert "no token: the Authorization header is missing" in found
    response = {"method": "POST", "path": "/api/chat.postMessage", "status": 200,
                "response_body": {"ok": True, "channel": "C024BE91L", "ts": "1.2", "message": {"text": "x"},
                                  "surprise": 1}}
    assert slack_response_errors(response)


# --------------------------------------------------------------------------- the trimmed files


async def test_the_trimmed_specs_are_what_trim_py_makes_of_the_originals(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    stripe_source, slack_source = SHARED_SPECS / "stripe" / "spec3.yaml", SHARED_SPECS / "slack" / \
        "slack_web_openapi_v2.json"
    if not stripe_source.exists() or not slack_source.exists():
        pytest.skip(f"the original specs are not at {SHARED_SPECS}")
    import importlib.util

    loader = importlib.util.spec_from_file_location("trim", OPENAPI / "trim.py")
    assert loader is not None and loader.loader is not None
    trim = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(trim)
    stripe = yaml.load(stripe_source.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert trim.trim_stripe(stripe) == spec("stripe")
    assert trim.trim_slack(json.loads(slack_source.read_text())) == spec("slack")
    for name in ("stripe", "slack"):
        assert (OPENAPI / f"LICENSE-{name}").read_text() == (SHARED_SPECS / name / "LICENSE").read_text()
