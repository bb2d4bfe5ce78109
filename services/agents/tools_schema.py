"""The tools an agent gets, generated from the catalog and the models: one source for all of them.

`pivot tools` prints them (OpenAI, Anthropic or MCP JSON), the MCP server serves them, and the
pydantic-ai toolset offers them: one tool per catalog action (a step of an open saga, its
params typed by the action's own model), the controls of an open saga (commit, abort, status),
and the plan path (run a whole plan, check one, list the actions). No hand-written copy drifts.
"""

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from compensations.actions import Action, Catalog
from compensations.ids import RUN_ID_PATTERN, STEP_ID_PATTERN
from compensations.kinds import StepKind
from compensations.open_calls import StepAnswer
from compensations.outcome import Outcome
from services.cli.explain import plan_json_schema

Format = Literal["openai", "anthropic", "mcp-json"]
ToolRole = Literal["step", "control", "plan"]

RUN_ID_SCHEMA = {"type": "string", "pattern": RUN_ID_PATTERN,
                 "description": "Your id for this task; resubmitting it returns the first outcome, never a second run"}
SAGA_SCHEMA = {**RUN_ID_SCHEMA, "description": "The saga's id: one per task, the same for every call of that task"}
STEP_SCHEMA = {"type": "string", "pattern": STEP_ID_PATTERN,
               "description": "Your label for this write (or your tool-call id). Calling again with the same label "
                              "returns the recorded result and never writes twice."}


@dataclass(frozen=True)
class ToolHints:
    """MCP tool annotations: what a client may need to confirm with a person."""

    read_only: bool = False
    destructive: bool = True
    idempotent: bool = True
    """Structural keys: the same (saga, step) never writes twice."""
    open_world: bool = True


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    hints: ToolHints
    role: ToolRole
    action: str | None = None
    """The catalog action a step tool takes."""


def tool_name(action: str) -> str:
    """`stripe.create_invoice` → `stripe_create_invoice` (tool names allow no dots everywhere)."""
    return action.replace(".", "_")


def _object(properties: dict[str, Any], required: list[str], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required,
                              "additionalProperties": False}
    if defs:
        schema["$defs"] = defs
    return schema


def _schema_of(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model's JSON Schema without its `$defs` (returned apart, to hoist to the tool's top level)."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    return schema, schema.pop("$defs", {})


def _when(action: Action, in_handler: bool) -> str:
    undone_when = ("a later failure, or the task fails" if in_handler
                   else "a later failure, an abort, or no call for its idle timeout")
    sent_when = "once you have finished the task (the saga commits then)" if in_handler else "at saga_commit"
    if action.kind is StepKind.COMPENSABLE:
        return (f"Runs at once and is verified by reading it back. If the saga unwinds ({undone_when}), it is "
                f"undone: {action.compensation}.")
    return (f"{action.kind.value.capitalize()}: it cannot be undone, so when asked before the saga's point of no "
            f"return it is DEFERRED — recorded now, sent only {sent_when}, and never sent if the saga unwinds.")


def connection_schema(catalog_connections: frozenset[str]) -> dict[str, Any]:
    return {"type": "string", "enum": ["default", *sorted(catalog_connections)], "default": "default",
            "description": "Which account of the provider to write to (a configured connection)"}


def step_tool(action: Action, *, in_handler: bool = False, connections: frozenset[str] = frozenset()) -> ToolSpec:
    """The tool of one catalog action. Over HTTP or MCP it names its saga and step; inside a Restate
    handler (`in_handler`, the pydantic-ai toolset) the saga is the handler's and the step id is the
    tool call's id, so it takes just the params (and `pivot`)."""
    params, defs = _schema_of(action.params)
    properties: dict[str, Any] = {} if in_handler else {"saga": SAGA_SCHEMA, "step": STEP_SCHEMA}
    properties["params"] = params
    properties["connection"] = connection_schema(connections)
    if action.pivot_eligible:
        properties["pivot"] = {"type": "boolean", "default": False,
                               "description": "This step is the point of no return: after it nothing is undone."}
    which = "this task's saga" if in_handler else "the saga named by `saga`"
    step_ids = (" A step's id is the id of the tool call that asked for it (the answer's `step.id`)."
                if in_handler else "")
    description = (f"{action.name} ({action.kind.value}), as one step of {which}. {_when(action, in_handler)} "
                   f"Verifies: {action.readback}. The answer is the verified step and the saga; relay the saga's "
                   "`summary`, never your own account. "
                   '`{"$from": "<step id>.field"}` in params takes a verified value of an earlier step.' + step_ids)
    output, output_defs = _schema_of(StepAnswer)
    if output_defs:
        output["$defs"] = output_defs
    required = ["params"] if in_handler else ["saga", "step", "params"]
    return ToolSpec(name=tool_name(action.name), title=action.name, description=description,
                    input_schema=_object(properties, required, defs), output_schema=output,
                    hints=ToolHints(), role="step", action=action.name)


def _outcome_schema() -> dict[str, Any]:
    schema, defs = _schema_of(Outcome)
    if defs:
        schema["$defs"] = defs
    return schema


def control_tools() -> list[ToolSpec]:
    saga_only = _object({"saga": SAGA_SCHEMA}, ["saga"])
    outcome = _outcome_schema()
    return [
        ToolSpec("saga_commit", "Commit a saga",
                 "Finish the saga: its deferred steps (chat messages, emails) are sent now, in order, and the saga "
                 "ends committed. Call it once every step of the task has verified. Returns the final outcome.",
                 saga_only, outcome, ToolHints(), "control"),
        ToolSpec("saga_abort", "Abort a saga",
                 "Undo every step of the saga that took effect, in reverse order; deferred steps are never sent. "
                 "Returns the final outcome.",
                 _object({"saga": SAGA_SCHEMA, "reason": {"type": "string", "maxLength": 500}}, ["saga"]),
                 outcome, ToolHints(), "control"),
        ToolSpec("saga_status", "Saga status",
                 "The saga's live, verified state: every step, its state and result, and a summary to relay.",
                 saga_only, outcome, ToolHints(read_only=True, destructive=False), "control"),
    ]


def plan_tools(catalog: Catalog) -> list[ToolSpec]:
    plan = plan_json_schema(catalog)
    defs = plan.pop("$defs", {})
    actions = "; ".join(f"{name} ({catalog[name].kind.value})" for name in sorted(catalog))
    return [
        ToolSpec("run_saga_plan", "Run a saga plan",
                 "Run a whole multi-step write as one saga when every step is known up front: every step is "
                 "verified, and if one fails before the pivot everything done is undone. Returns the verified "
                 "outcome; relay its `summary` verbatim. Actions: " + actions,
                 _object({"run_id": RUN_ID_SCHEMA, "plan": plan}, ["run_id", "plan"], defs), _outcome_schema(),
                 ToolHints(), "plan"),
        ToolSpec("check_plan", "Check a saga plan",
                 "Validate a plan without running anything: each step's kind, how it is undone, where the point "
                 "of no return falls, and every violation with its fix.",
                 _object({"plan": plan}, ["plan"], defs), None,
                 ToolHints(read_only=True, destructive=False, open_world=False), "plan"),
        ToolSpec("list_actions", "List actions",
                 "The actions a saga may take, with their kind, key carrier, read-back and undo.",
                 _object({}, []), None, ToolHints(read_only=True, destructive=False, open_world=False), "plan"),
    ]


def action_json(action: Action) -> dict[str, Any]:
    """One catalog action as data: what it is, how its key travels, what it verifies, how it is undone
    (`pivot actions --json`, the MCP `list_actions` tool)."""
    return {"name": action.name, "provider": action.provider, "kind": action.kind.value,
            "pivot_eligible": action.pivot_eligible, "key_carrier": action.key_carrier, "readback": action.readback,
            "compensation": action.compensation, "atomicity": action.atomicity,
            "params": action.params.model_json_schema()}


def select_actions(catalog: Catalog, patterns: Iterable[str] | None) -> list[Action]:
    """The actions matching any of the globs (`stripe.*`, `*.create_*`); all of them without globs."""
    chosen = list(patterns or [])
    names = sorted(catalog)
    if chosen:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in chosen)]
    return [catalog[n] for n in names]


def tool_specs(catalog: Catalog, actions: Iterable[str] | None = None) -> list[ToolSpec]:
    """Every tool: one per (selected) catalog action, the open saga's controls, the plan path."""
    return [*(step_tool(a, connections=catalog.connections.get(a.provider, frozenset()))
              for a in select_actions(catalog, actions)), *control_tools(), *plan_tools(catalog)]


def render_tools(catalog: Catalog, fmt: Format, actions: Iterable[str] | None = None) -> Any:
    specs = tool_specs(catalog, actions)
    if fmt == "anthropic":
        return [{"name": s.name, "description": s.description, "input_schema": s.input_schema} for s in specs]
    if fmt == "openai":
        return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                                  "parameters": s.input_schema}} for s in specs]
    return {"tools": [{"name": s.name, "title": s.title, "description": s.description, "inputSchema": s.input_schema,
                       **({"outputSchema": s.output_schema} if s.output_schema else {}),
                       "annotations": {"readOnlyHint": s.hints.read_only, "destructiveHint": s.hints.destructive,
                                       "idempotentHint": s.hints.idempotent, "openWorldHint": s.hints.open_world}}
                      for s in specs]}
