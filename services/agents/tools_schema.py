"""Tool definitions an LLM can call directly, generated from the models and the catalog.

No hand-written copies that drift: the plan's JSON Schema comes from the pydantic model, the
action list from the catalog this deployment serves.
"""

from typing import Any, Literal

from compensations.actions import Catalog
from compensations.outcome import Outcome
from services.cli.explain import plan_json_schema

Format = Literal["openai", "anthropic", "mcp-json"]

RUN_ID_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
                 "description": "Your id for this task; resubmitting it returns the first outcome, never a second run"}


def tool_specs(catalog: Catalog) -> list[dict[str, Any]]:
    """(name, description, JSON Schema of the input) for each tool, format-neutral."""
    plan = plan_json_schema(catalog)
    definitions = plan.pop("$defs", {})
    submit = {
        "type": "object",
        "properties": {"run_id": RUN_ID_SCHEMA, "plan": plan},
        "required": ["run_id", "plan"],
        "additionalProperties": False,
        "$defs": definitions,
    }
    actions = "; ".join(f"{name} ({catalog[name].kind.value})" for name in sorted(catalog))
    return [
        {"name": "submit_saga_plan",
         "description": ("Run a multi-step write across CRM, payments and chat as one saga: every step is "
                         "verified, and if one fails before the pivot everything done is undone. Returns the "
                         "verified outcome; relay its `summary` to the user verbatim. Actions: " + actions),
         "input_schema": submit},
        {"name": "get_saga_status",
         "description": "The live, verified state of a saga by run id (steps, states, refs, summary).",
         "input_schema": {"type": "object", "properties": {"run_id": RUN_ID_SCHEMA}, "required": ["run_id"],
                          "additionalProperties": False}},
        {"name": "list_actions",
         "description": "The actions a saga plan may use, with their kind, key carrier, read-back and undo.",
         "input_schema": {"type": "object", "properties": {}, "additionalProperties": False}},
    ]


def render_tools(catalog: Catalog, fmt: Format) -> Any:
    specs = tool_specs(catalog)
    if fmt == "anthropic":
        return [{"name": s["name"], "description": s["description"], "input_schema": s["input_schema"]}
                for s in specs]
    if fmt == "openai":
        return [{"type": "function", "function": {"name": s["name"], "description": s["description"],
                                                  "parameters": s["input_schema"]}} for s in specs]
    return {"tools": [{"name": s["name"], "description": s["description"], "inputSchema": s["input_schema"]}
                      for s in specs],
            "outcomeSchema": Outcome.model_json_schema()}
