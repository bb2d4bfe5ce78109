"""The tools a model holds: how big they are, that every vendor's strict mode takes them (checked
with the vendors' own code), and that the README's and the examples' calls, `$from` and
`$template` included, are arguments those schemas accept.

Sizes are what goes over the wire: compact JSON (no spaces, as the MCP SDK serializes) of MCP's
`tools/list` result `{"tools": [...]}`, and of each tool in it. Measured so, the list was about
155,000 characters when the issue was filed.
"""

import ast
import copy
import dataclasses
import importlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from anthropic.lib._parse._transform import transform_schema
from anthropic.types import ToolParam
from google.genai import types as genai
from mcp_types import Tool as McpTool
from openai.lib._pydantic import _ensure_strict_json_schema
from openai.types.shared import FunctionDefinition
from pydantic import TypeAdapter
from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer

from pivot.compensations.actions import Catalog
from pivot.services.agents.param_schemas import wire_params, wire_params_schema
from pivot.services.agents.pydantic_toolset import PivotToolset
from pivot.services.agents.strict_schema import strict_problems
from pivot.services.agents.tool_args import plan_request, step_request
from pivot.services.agents.tools_schema import META_ABOVE, render_tools, tool_name, tool_specs
from pivot.services.catalog import build_catalog
from pivot.services.cli import main
from pivot.services.local.demo import flagship_plan
from pivot.services.local.restate_binary import PROJECT_ROOT

FULL_LIMIT = 50_000
"""Full mode, 19 actions with the controls and the plan path: 35,202 (about 155,000 before); issue 24's
seven (postgres.insert/update/delete_record, shopify.reserve_inventory, shopify.create_fulfillment,
resend.send_email, resend.send_correction) bring 26 actions to about 48,000 (meta mode keeps a few tools
whatever the size; `--tools auto` switches to it above 40 actions).
Not the issue's 30,000: what each tool must carry costs more than the difference — the `$from` /
`$template` references about 5,600 (one definition per tool, an `anyOf` per param), the undo
metadata in `_meta` about 2,200, strict mode's closed objects and nullable optionals about 4,000.
Meta mode (below) is the list for clients that cannot spend that."""
TOOL_LIMIT = 2_400
"""The largest tool in full mode (was 9,720, run_saga_plan): shopify_create_draft_order was 2,278, its
line item a closed object of seven nullable fields; issue 26's approval channels (which a model sets to
ask its own user in chat) add about 110 to each tool that carries a gate: run_saga_plan, 2,355."""
META_LIMIT = 6_000
"""Meta mode, whatever the catalog's size."""
MODES = ("full", "meta")
CATALOG_ENV = ("PIVOT_CATALOG_PLUGINS", "PIVOT_CONNECTIONS_FILE")


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """Today's catalog as a user gets it: the built-in actions, no test plugins, no extra accounts."""
    for name in CATALOG_ENV:
        monkeypatch.delenv(name, raising=False)
    return build_catalog()


def tools_list(catalog: Catalog, mode: str) -> dict[str, Any]:
    listed: dict[str, Any] = render_tools(catalog, "mcp-json", mode=mode)  # type: ignore[arg-type]
    return listed


def wire(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def sizes(listed: dict[str, Any]) -> tuple[int, dict[str, int]]:
    return wire(listed), {tool["name"]: wire(tool) for tool in listed["tools"]}


# -- size ----------------------------------------------------------------------------------------


def test_tool_lists_fit_a_models_context(catalog: Catalog) -> None:
    full_total, full = sizes(tools_list(catalog, "full"))
    meta_total, meta = sizes(tools_list(catalog, "meta"))
    for mode, total, each in (("full", full_total, full), ("meta", meta_total, meta)):
        print(f"{mode}: {total} characters in {len(each)} tools")
        for name, size in sorted(each.items(), key=lambda item: -item[1]):
            print(f"  {name:36} {size:6}")

    assert len(full) == len(catalog) + 8  # one per action; commit, abort, status, preview; the plan path
    assert full_total <= FULL_LIMIT, full_total
    assert max(full.values()) <= TOOL_LIMIT, max(full, key=lambda name: full[name])
    assert set(meta) == {"find_actions", "describe_action", "step", "saga_preview", "saga_commit", "saga_abort",
                         "saga_status"}
    assert meta_total <= META_LIMIT, meta_total


def test_the_default_list_stops_growing_with_the_catalog(catalog: Catalog) -> None:
    """`auto` serves one tool per action up to META_ABOVE actions, the meta tools above: a catalog
    ten times today's costs a model no more than today's meta list. No tool embeds the catalog."""
    actions = list(catalog.values())
    big = Catalog.of(dataclasses.replace(actions[i % len(actions)], name=f"p{i}.{actions[i % len(actions)].name}"
                                         .replace(".", "_", 1)) for i in range(10 * len(actions)))
    today = tools_list(catalog, "auto")
    grown = tools_list(big, "auto")

    assert len(catalog) <= META_ABOVE < len(big)
    assert [t["name"] for t in today["tools"]] == [t["name"] for t in tools_list(catalog, "full")["tools"]]
    assert grown == tools_list(catalog, "meta")
    shared = {t["name"]: t for t in today["tools"] if "_meta" not in t}
    assert shared == {t["name"]: t for t in tools_list(big, "full")["tools"] if "_meta" not in t}


# -- strict mode, with each vendor's own code -----------------------------------------------------


def _openai_strict_ready(schema: dict[str, Any]) -> None:
    """OpenAI's own strict conversion leaves it as it is; pydantic-ai's OpenAI profile finds it
    strict-compatible and, asked to make it strict, changes nothing."""
    assert _ensure_strict_json_schema(copy.deepcopy(schema), path=(), root=copy.deepcopy(schema)) == schema
    check = OpenAIJsonSchemaTransformer(copy.deepcopy(schema), strict=None)
    check.walk()
    assert check.is_strict_compatible
    assert OpenAIJsonSchemaTransformer(copy.deepcopy(schema), strict=True).walk() == schema
    assert strict_problems(schema) == []
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("mode", MODES)
def test_openai_strict(catalog: Catalog, mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--format", "openai", "--strict", "--tools", mode]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == render_tools(catalog, "openai", mode=mode, strict=True)  # type: ignore[arg-type]
    for tool in printed:
        function = FunctionDefinition.model_validate(tool["function"])
        assert function.strict is True and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", function.name)
        _openai_strict_ready(tool["function"]["parameters"])


@pytest.mark.parametrize("mode", MODES)
def test_mcp_json(catalog: Catalog, mode: str) -> None:
    for tool in tools_list(catalog, mode)["tools"]:
        listed = McpTool.model_validate(tool)
        assert listed.output_schema is None and listed.title is None  # one answer shape, said once
        _openai_strict_ready(tool["inputSchema"])
        if mode == "full" and tool["name"] not in {"saga_commit", "saga_abort", "saga_status", "saga_preview",
                                                   "run_saga_plan", "check_plan", "list_actions",
                                                   "describe_action"}:
            undo = tool["_meta"]["pivot/undo"]
            assert set(undo) == {"kind", "compensation", "deferral"} and undo["deferral"] in {"none", "until_pivot"}


@pytest.mark.parametrize("mode", MODES)
def test_anthropic(catalog: Catalog, mode: str) -> None:
    for tool in render_tools(catalog, "anthropic", mode=mode):  # type: ignore[arg-type]
        TypeAdapter(ToolParam).validate_python(tool, strict=True)
        transform_schema(copy.deepcopy(tool["input_schema"]))  # Anthropic's strict transform takes every node


@pytest.mark.parametrize("mode", MODES)
def test_gemini(catalog: Catalog, mode: str) -> None:
    [rendered] = render_tools(catalog, "gemini", mode=mode)  # type: ignore[arg-type]
    tool = genai.Tool.model_validate(rendered)
    assert tool.function_declarations is not None
    for declaration in tool.function_declarations:
        schema = genai.JSONSchema.model_validate(declaration.parameters_json_schema)  # Gemini's own subset
        genai.Schema.from_json_schema(json_schema=schema, raise_error_on_unsupported_field=True)


def test_the_pydantic_ai_toolset_is_as_compact_and_strict(catalog: Catalog) -> None:
    toolset = PivotToolset(catalog)
    definitions = toolset.tool_definitions
    total = sum(len(json.dumps(d.parameters_json_schema)) + len(d.description or "") for d in definitions)
    print(f"pydantic-ai toolset: {total} characters in {len(definitions)} tools")
    assert total <= FULL_LIMIT and len(definitions) == len(catalog)
    for definition in definitions:
        assert definition.strict is True and "saga" not in definition.parameters_json_schema["properties"]
        assert "repeat" in definition.parameters_json_schema["properties"]
        _openai_strict_ready(definition.parameters_json_schema)


# -- arguments: the README's and the examples' calls are accepted --------------------------------


def strict_value(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """`value` as a strict client sends it: every optional property present (null), maps as pairs."""
    if isinstance(value, dict) and ("$from" in value or "$template" in value):
        return value
    branches = [root["$defs"][b["$ref"].split("/")[-1]] if "$ref" in b else b for b in schema.get("anyOf", [schema])]
    if isinstance(value, dict):
        closed = next((b for b in branches if b.get("type") == "object"), None)
        if closed is not None:
            return {name: strict_value(value.get(name), prop, root) for name, prop in closed["properties"].items()}
        pairs = next(b for b in branches if b.get("type") == "array")
        return [{"name": k, "value": strict_value(v, pairs["items"]["properties"]["value"], root)}
                for k, v in value.items()]
    if isinstance(value, list):
        listed = next(b for b in branches if b.get("type") == "array")
        return [strict_value(item, listed["items"], root) for item in value]
    return value


def as_tool_call(catalog: Catalog, saga: str, call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A step (`{"step", "action", "params", …}`) as its action's tool would be called by a strict client."""
    spec = next(s for s in tool_specs(catalog) if s.action == call["action"])
    schema = spec.input_schema
    flags = {k for k, v in schema["properties"].items() if v == {"type": "boolean"}}  # always sent, false or true
    arguments = {"saga": saga, "step": call["step"], **{k: call.get(k, False if k in flags else None)
                                                       for k in schema["properties"]
                                                       if k not in {"saga", "step", "params"}}}
    arguments["params"] = strict_value(call["params"], schema["properties"]["params"], schema)
    return spec.name, arguments


def generic_call(saga: str, call: dict[str, Any]) -> dict[str, Any]:
    """The same step as the meta mode's `step` (params as JSON text)."""
    return {"saga": saga, "step": call["step"], "action": call["action"], "params": json.dumps(call["params"]),
            **{k: call.get(k) for k in ("pivot", "connection", "approval", "repeat")}}


def plan_call(plan: dict[str, Any]) -> dict[str, Any]:
    fields = ("pivot", "connection", "group", "approval", "not_before", "repeat")
    steps = [{"id": s["id"], "action": s["action"], "params": json.dumps(s.get("params", {})),
              **{k: s.get(k) for k in fields}} for s in plan["steps"]]
    for step in steps:
        if step["approval"] is not None:
            step["approval"] = {"timeout": None, "reason": None, **step["approval"]}
    return {"run_id": "agent-run-7f3c", "plan": {"steps": steps}}


def _json_objects(text: str) -> list[Any]:
    """Every JSON object of the README: its ```json blocks, and the bodies its curl calls send."""
    found = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    found += [json.loads(body) for body in re.findall(r"/step -H '[^']*' -d '(\{.*?\})'", text, re.S)]
    return found


def _example_calls() -> list[dict[str, Any]]:
    """The steps the examples take (`….step(run, id, action, params)`, `saga.step(id, action, params)`)
    and their plans' steps, evaluated with the module's names and a sample customer for its inputs."""
    sample = {"email": "ada@example.com", "quantity": 2, "amount": 12000,
              "request": SimpleNamespace(email="ada@example.com", customer="cus_9s6XKzkNRiz8i3", amount=12000)}
    calls: list[dict[str, Any]] = []
    for path in [*sorted((PROJECT_ROOT / "examples").glob("*.py")), PROJECT_ROOT / "services/local/demo.py"]:
        module = importlib.import_module(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts))
        names = {**vars(module), **sample}

        def value(node: ast.expr, names: dict[str, Any] = names, path: Path = path) -> Any:
            return eval(compile(ast.Expression(node), str(path), "eval"), names)

        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "step" and len(node.args) in {3, 4}:
                step, action, params = node.args[-3:]
                if isinstance(action, ast.Constant):
                    calls.append({"step": value(step), "action": action.value, "params": value(params)})
            elif isinstance(node, ast.Dict):
                fields = {getattr(k, "value", None): v for k, v in zip(node.keys, node.values, strict=True)}
                if isinstance(fields.get("action"), ast.Constant) and "params" in fields:
                    step = value(node)
                    calls.append({"step": step.get("id") or step.get("step"), **step})
    return calls


def test_readme_and_example_calls_are_valid_arguments(catalog: Catalog) -> None:
    readme = _json_objects((PROJECT_ROOT / "README.md").read_text())
    plans = [o for o in readme if isinstance(o, dict) and isinstance(o.get("steps"), list)
             and all("params" in s for s in o["steps"])]
    steps = [o for o in readme if isinstance(o, dict) and {"step", "action", "params"} <= set(o)]
    tool_calls = [o for o in readme if isinstance(o, dict) and {"name", "arguments"} <= set(o)]
    calls = [*steps, *({"step": s["id"], **s} for p in plans for s in p["steps"]), *_example_calls()]
    assert plans and steps and tool_calls and len(calls) >= 15, (len(plans), len(steps), len(tool_calls))
    references = json.dumps(calls)
    assert '"$from"' in references and '"$template"' in references

    specs = {s.name: s for s in [*tool_specs(catalog, mode="full"), *tool_specs(catalog, mode="meta")]}
    for call in calls:
        where = f"{call['action']} {call['params']}"
        jsonschema.validate(call["params"], wire_params_schema(catalog[call["action"]]))  # describe_action's
        name, arguments = as_tool_call(catalog, "agent-run-8a1d", call)
        jsonschema.validate(arguments, specs[name].input_schema)
        assert wire_params(catalog[call["action"]], arguments["params"]) == call["params"], where
        meta = generic_call("agent-run-8a1d", call)
        jsonschema.validate(meta, specs["step"].input_schema)
        assert step_request(catalog, meta)["params"] == call["params"], where
    for plan in plans:
        arguments = plan_call(plan)
        jsonschema.validate(arguments, specs["run_saga_plan"].input_schema)
        assert plan_request(catalog, arguments["plan"]) == plan
    for tool_call in tool_calls:
        jsonschema.validate(tool_call["arguments"], specs[tool_call["name"]].input_schema)
    assert tool_name("stripe.create_invoice") in {c["name"] for c in tool_calls}


def test_a_literal_where_a_reference_is_not_meant_is_still_refused(catalog: Catalog) -> None:
    """The references are an alternative beside each param's own schema, which keeps its patterns."""
    invoice = wire_params_schema(catalog["stripe.create_invoice"])
    lines = [{"amount": 100, "currency": "usd", "description": "x"}]
    jsonschema.validate({"customer": {"$from": "contact.id"}, "lines": lines}, invoice)
    for bad in ({"customer": "someone", "lines": lines}, {"customer": {"$from": "contact.id", "x": 1}, "lines": lines},
                {"customer": {"$frm": "contact.id"}, "lines": lines}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, invoice)


def test_strict_arguments_come_back_as_pivot_takes_them(catalog: Catalog) -> None:
    """Nulls mean "not given", pairs are maps, JSON text is the object: what the service gets is the
    call a client that is not strict would have sent, so equal calls stay equal (the duplicate guard)."""
    record = catalog["salesforce.create_record"]
    sent = {"sobject": "Account", "fields": [{"name": "Name", "value": "Acme"},
                                             {"name": "OwnerId", "value": {"$from": "owner.id"}}], "key_field": None}
    assert wire_params(record, sent) == {"sobject": "Account", "fields": {"Name": "Acme",
                                                                          "OwnerId": {"$from": "owner.id"}}}
    assert wire_params(record, wire_params(record, sent)) == wire_params(record, sent)
    update = catalog["hubspot.update_properties"]  # a null value inside a map clears the field: kept
    assert wire_params(update, {"object_type": "contacts", "object_id": "1", "properties": [
        {"name": "phone", "value": None}]})["properties"] == {"phone": None}
    request = step_request(catalog, {"step": "s", "action": "stripe.refund", "params": '{"payment_intent": '
                                     '{"$from": "charge.id"}, "amount": null}', "pivot": None, "connection": None,
                                     "approval": {"approvers": ["finance"], "timeout": None, "reason": None},
                                     "repeat": True})
    assert request == {"step": "s", "action": "stripe.refund", "params": {"payment_intent": {"$from": "charge.id"}},
                       "approval": {"approvers": ["finance"]}, "repeat": True}


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "gemini", "mcp-json"])
def test_every_format_carries_the_same_tools_and_the_schemas_refuse_bad_calls(catalog: Catalog, fmt: str) -> None:
    rendered = render_tools(catalog, fmt)  # type: ignore[arg-type]
    tools = {"mcp-json": lambda r: r["tools"], "gemini": lambda r: r[0]["function_declarations"],
             "openai": lambda r: [t["function"] for t in r], "anthropic": lambda r: r}[fmt](rendered)
    names = [t["name"] for t in tools]
    assert names[-8:] == ["saga_commit", "saga_abort", "saga_status", "saga_preview", "run_saga_plan", "check_plan",
                          "list_actions", "describe_action"]
    assert set(names[:-8]) == {tool_name(name) for name in catalog}

    specs = {s.name: s for s in tool_specs(catalog)}
    submit = jsonschema.Draft202012Validator(specs["run_saga_plan"].input_schema)
    good = plan_call(flagship_plan())
    assert not list(submit.iter_errors(good))
    extra_field = copy.deepcopy(good)
    extra_field["plan"]["steps"][0]["surprise"] = True
    for bad in (extra_field, {"plan": good["plan"]}, {**good, "plan": {"steps": []}}):
        assert list(submit.iter_errors(bad)), bad
    invoice = jsonschema.Draft202012Validator(specs["stripe_create_invoice"].input_schema)
    name, arguments = as_tool_call(catalog, "agent-run-1", {"step": "invoice", **flagship_plan()["steps"][1]})
    assert name == "stripe_create_invoice" and not list(invoice.iter_errors(arguments))
    assert list(invoice.iter_errors({**arguments, "params": {**arguments["params"], "lines": None}}))
    post = specs["slack_post_message"]
    assert "DEFERRED" in post.description and "pivot" not in post.input_schema["properties"]
