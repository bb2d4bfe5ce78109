"""What a tool call's arguments mean to Pivot: the step request or the plan it stands for.

The schemas of the generic tools (`step`, `saga_preview`, `run_saga_plan`, `check_plan`) are
derived from the engine's own request models (`StepRequest`, `Plan`), so a field added there
appears here, in strict form, without a hand-written copy; only the descriptions are the tools'
own, short ones (the models' are written for people reading the API). A params object of any
action cannot be one strict schema without embedding every action's (that is what made a plan
tool 9,000 characters), so these tools take `params` as JSON text, whose shape `describe_action`
gives; a client that is not strict may send the object itself.

Every tool's arguments go through here on the way in (`step_request`, `plan_request`), so both
tool modes, and every client, send the service the same request for the same call.
"""

import json
from functools import cache
from typing import Any

from pivot.compensations.actions import Catalog
from pivot.compensations.open_calls import StepRequest
from pivot.compensations.plan import Plan
from pivot.services.agents.param_schemas import model_schema, wire_params
from pivot.services.agents.strict_schema import Schema, from_strict, to_strict

STEP_NOTES = {
    "step": "Your id for this write",
    "action": "A catalog action",
    "params": "The action's params as a JSON object, in text (describe_action); "
              '{"$from": "step.field"} takes an earlier verified value',
    "pivot": "true: the point of no return",
    "connection": "Which account of the provider",
    "approval": "A person decides first",
    "repeat": "true: an identical earlier write is meant again (two equal refunds)",
    "timeout": "ISO 8601 duration",
}
"""The descriptions the generic tools give their fields (by field name)."""


def _noted(node: Any, notes: dict[str, str]) -> Any:
    """The schema without its own descriptions, with `notes` on the properties they name."""
    if isinstance(node, list):
        return [_noted(item, notes) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _noted(value, notes) for key, value in node.items() if key not in {"description", "properties"}}
    if isinstance(node.get("properties"), dict):
        out["properties"] = {name: ({**_noted(prop, notes), "description": notes[name]} if name in notes
                                    else _noted(prop, notes)) for name, prop in node["properties"].items()}
    return out


AGENT_UNSET = ("requested_by",)
"""Fields of the approval gate that an agent's tools leave out: who asked for an approval is for the
agent's program to say (library, plan over HTTP), never for the model to claim."""
UNSHOWN_BOUNDS = frozenset({"minItems", "maxItems"})
"""How many approvers and channels a gate may name: the service checks it and says so."""


def _for_agents(schema: Schema) -> Schema:
    gate = schema.get("$defs", {}).get("Approval")
    if gate is not None:
        gate["properties"] = {name: {k: v for k, v in prop.items() if k not in UNSHOWN_BOUNDS}
                              for name, prop in gate["properties"].items() if name not in AGENT_UNSET}
        gate["required"] = [name for name in gate.get("required", []) if name not in AGENT_UNSET]
    return schema


@cache
def _step_wire() -> Schema:
    schema = _for_agents(model_schema(StepRequest))
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "wait_s"}
    schema["required"] = [k for k in schema.get("required", []) if k != "wait_s"]
    return schema


@cache
def _plan_wire() -> Schema:
    return _for_agents(model_schema(Plan))


def _unpatterned(node: Any) -> Any:
    """Without the id, action and connection patterns: the service checks each before anything is
    recorded and names a bad one with its rule, and a generic tool must stay small."""
    if isinstance(node, dict):
        return {k: _unpatterned(v) for k, v in node.items() if k != "pattern"}
    if isinstance(node, list):
        return [_unpatterned(v) for v in node]
    return node


def step_call_schema() -> tuple[Schema, Schema]:
    """The strict properties of a generic step call (everything but the saga), and their `$defs`."""
    strict = to_strict(_unpatterned(_noted(_step_wire(), STEP_NOTES)))
    return strict["properties"], strict.get("$defs", {})


PLAN_NOTES = {**STEP_NOTES, "steps": "In order; at most one is the pivot", "group": "Adjacent compensable steps run "
              "in parallel", "repeat": "An identical earlier step is meant again (two equal refunds)"}


def plan_schema() -> Schema:
    """A whole plan, strict: its steps closed, each step's params as JSON text (`$defs` inside)."""
    return to_strict(_unpatterned(_noted(_plan_wire(), PLAN_NOTES)))


def _action_params(catalog: Catalog, action: str, params: Any) -> Any:
    return wire_params(catalog[action], params) if action in catalog else params


def step_request(catalog: Catalog, call: dict[str, Any]) -> dict[str, Any]:
    """One step tool call (`step`, `action`, `params` and the optional fields, strict form or not)
    as the open saga's step request: nulls dropped, JSON text parsed, pairs back into maps."""
    wire = _step_wire()
    request: dict[str, Any] = from_strict(call, wire, wire)
    if isinstance(request.get("params"), dict):
        request["params"] = _action_params(catalog, str(request.get("action")), request["params"])
    return request


def plan_request(catalog: Catalog, plan: Any) -> Any:
    """A plan tool's `plan` argument as the plan the service takes (each step as `step_request`
    would read it). Anything malformed passes through: the plan's validation names the problem."""
    wire = _plan_wire()
    request = from_strict(plan, wire, wire)
    steps = request.get("steps") if isinstance(request, dict) else None
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and isinstance(step.get("params"), dict):
            step["params"] = _action_params(catalog, str(step.get("action")), step["params"])
    return request


def params_error(value: Any) -> str | None:
    """Why a `params` argument is not a JSON object, as an object or as its text (None: it is one)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as invalid:
            return f"params is not JSON ({invalid})"
    return None if value is None or isinstance(value, dict) else "params must be a JSON object"
