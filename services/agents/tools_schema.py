"""The tools an agent gets, generated from the catalog and the models: one source for all of them.

`pivot tools` prints them (OpenAI, Anthropic, Gemini or MCP JSON), the MCP server serves them,
and the pydantic-ai toolset offers them. Two modes:

- **full**: one tool per catalog action (a step of an open saga, its params typed by the action's
  own model), the saga's controls (commit, abort, status, preview) and the plan path (run a plan,
  check one, list the actions);
- **meta**: a handful of tools whatever the catalog's size — `find_actions`, `describe_action`, a
  generic `step`, `saga_preview` and the controls — the schema of an action fetched when the model
  needs it (plans stay on HTTP, the CLI and full mode). `auto` picks meta above `META_ABOVE` actions.

A tool list is context a model pays for on every turn, so each tool says what a model needs to
call it right and nothing twice: no output schemas (every answer has one shape, the `{"step",
"saga"}` of `describe_action`'s `answer`, and carries it as structured content anyway), no
titles, only the annotations that differ from MCP's defaults, `$defs` hoisted to each tool's root,
and every schema in OpenAI's strict form (`strict_schema`), which Anthropic and Gemini take too.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pivot.compensations.actions import Action, Catalog
from pivot.compensations.kinds import StepKind
from pivot.services.agents.action_views import action_json as action_json
from pivot.services.agents.action_views import select_actions as select_actions
from pivot.services.agents.action_views import short_undo, undo_meta
from pivot.services.agents.param_schemas import tool_params_schema
from pivot.services.agents.strict_schema import Schema, nullable
from pivot.services.agents.tool_args import STEP_NOTES, plan_schema, step_call_schema

Format = Literal["openai", "anthropic", "mcp-json", "gemini"]
ToolMode = Literal["full", "meta", "auto"]
ToolRole = Literal["step", "control", "plan", "meta"]

META_ABOVE = 40
"""`auto` serves the meta tools for a catalog of more actions than this: one tool per action costs a
model about 1,000 characters each on every turn, the meta tools about 6,000 in all."""

SAGA_SCHEMA: Schema = {"type": "string"}
"""The saga's id (each description says `saga`). Ids are checked, their alphabet and length, before any
request, with the rule in the refusal: a pattern here would cost every tool and help no model."""
RUN_ID_SCHEMA: Schema = {"type": "string", "description": "One id per task"}
STEP_SCHEMA: Schema = {"type": "string"}
FLAG_SCHEMA: Schema = {"type": "boolean"}
"""A step tool's `pivot` and `repeat`: plain booleans the model always sends (strict mode requires every
property anyway), explained once in each step tool's description and in the server's instructions
rather than in every tool's schema."""
RELAY = "Relay the answer's saga.summary."


@dataclass(frozen=True)
class ToolHints:
    """MCP tool annotations: what a client may need to confirm with a person."""

    read_only: bool = False
    destructive: bool = True
    idempotent: bool = True
    """Structural keys: the same (saga, step) never writes twice."""
    open_world: bool = True

    def annotations(self) -> dict[str, bool]:
        """The hints that differ from MCP's defaults (read-only false, destructive true, idempotent
        false, open world true): a client reads the rest as those defaults."""
        hints = {"readOnlyHint": self.read_only, "idempotentHint": self.idempotent,
                 "openWorldHint": self.open_world}
        if not self.read_only:
            hints["destructiveHint"] = self.destructive
        defaults = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False, "openWorldHint": True}
        return {name: value for name, value in hints.items() if value != defaults[name]}


READ_ONLY = ToolHints(read_only=True, destructive=False)
OFFLINE = ToolHints(read_only=True, destructive=False, open_world=False)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: Schema
    hints: ToolHints
    role: ToolRole
    action: str | None = None
    """The catalog action a step tool takes."""
    meta: dict[str, Any] | None = None
    """MCP `_meta`: a step tool's undo metadata (kind, compensation, deferral)."""


def tool_name(action: str) -> str:
    """`stripe.create_invoice` → `stripe_create_invoice` (tool names allow no dots everywhere)."""
    return action.replace(".", "_")


def _object(properties: dict[str, Any], defs: dict[str, Any] | None = None) -> Schema:
    """A tool's input: closed, every property required (strict mode; optional ones are nullable)."""
    schema: Schema = {"type": "object", "properties": properties, "required": list(properties),
                      "additionalProperties": False}
    if defs:
        schema["$defs"] = defs
    return schema


def connection_schema(connections: Iterable[str]) -> Schema:
    return nullable({"type": "string", "enum": ["default", *sorted(connections)],
                     "description": STEP_NOTES["connection"]})


def _kind_sentence(action: Action, in_handler: bool) -> str:
    """The step's kind, what undo means, and whether it waits: the words a model needs to call it right.
    What the kinds mean in general is said once, in the server's instructions."""
    if action.kind is StepKind.COMPENSABLE:
        return f"Compensable, runs now; undone on unwind: {short_undo(action)}."
    when = "when the task is done" if in_handler else "at saga_commit"
    retried = ", retried until it succeeds" if action.kind is StepKind.RETRYABLE else ""
    return f"{action.kind.value.capitalize()}, no undo: before the pivot, DEFERRED, sent {when}{retried}."


def step_tool(action: Action, *, in_handler: bool = False, connections: Iterable[str] = ()) -> ToolSpec:
    """The tool of one catalog action. Over HTTP or MCP it names its saga and step; inside a Restate
    handler (`in_handler`, the pydantic-ai toolset) the saga is the handler's and the step id is the
    tool call's id, so it takes just the params (and `pivot`, `repeat`)."""
    params, defs = tool_params_schema(action)
    properties: dict[str, Any] = {} if in_handler else {"saga": SAGA_SCHEMA, "step": STEP_SCHEMA}
    properties["params"] = params
    if connections := sorted(connections):
        properties["connection"] = connection_schema(connections)
    if action.pivot_eligible:
        properties["pivot"] = FLAG_SCHEMA
    properties["repeat"] = FLAG_SCHEMA
    pivot = " May be the pivot." if action.pivot_eligible else ""
    description = f"{_kind_sentence(action, in_handler)}{pivot} repeat=true: an identical write again, meant."
    return ToolSpec(name=tool_name(action.name), description=description, input_schema=_object(properties, defs),
                    hints=ToolHints(), role="step", action=action.name, meta={"pivot/undo": undo_meta(action)})


def generic_step_tool(name: str, description: str, hints: ToolHints, role: ToolRole) -> ToolSpec:
    """A step of any action (`step`, `saga_preview`): the action named, its params as JSON text."""
    properties, defs = step_call_schema()
    return ToolSpec(name, description, _object({"saga": SAGA_SCHEMA, **properties}, defs), hints, role)


def preview_tool() -> ToolSpec:
    return generic_step_tool(
        "saga_preview",
        "What `step` would do with these arguments, doing nothing: verdict (run, deferred, replay, duplicate, "
        "refused), kind, keys, undo, approval gate, order check, resolved $from values. Writes nothing.",
        READ_ONLY, "control")


def control_tools() -> list[ToolSpec]:
    saga_only = _object({"saga": SAGA_SCHEMA})
    return [
        ToolSpec("saga_commit", "Finish the saga: its deferred steps (messages, emails) are sent now, in order, and "
                 "it ends committed. Call it once every step has verified. Returns the final outcome.",
                 saga_only, ToolHints(), "control"),
        ToolSpec("saga_abort", "Undo every step of the saga that took effect, in reverse; deferred steps are never "
                 "sent. Returns the final outcome.",
                 _object({"saga": SAGA_SCHEMA, "reason": nullable({"type": "string"})}), ToolHints(), "control"),
        ToolSpec("saga_status", "The saga's live, verified state: every step, its state and result, and the summary "
                 "to relay.", saga_only, READ_ONLY, "control"),
        preview_tool(),
    ]


def plan_tools() -> list[ToolSpec]:
    """The plan path. A plan names any action, so its steps' params are JSON text (`describe_action`
    has each action's schema) instead of a union of every action's: the tool stays one size."""
    plan = plan_schema()
    defs = plan.pop("$defs", {})
    return [
        ToolSpec("run_saga_plan", "Run a whole multi-step write as one saga when every step is known up front: each "
                 "step is verified; if one fails before the pivot, everything done is undone. A "
                 "step equal to an earlier one is refused unless it says repeat. Returns the outcome; " + RELAY,
                 _object({"run_id": RUN_ID_SCHEMA, "plan": plan}, defs), ToolHints(), "plan"),
        ToolSpec("check_plan", "Validate a plan (as JSON text, the plan run_saga_plan takes) without running "
                 "anything: each step's kind, undo, the point of no return, every violation with its fix.",
                 _object({"plan": {"type": "string"}}), OFFLINE, "plan"),
    ]


def list_tool() -> ToolSpec:
    return ToolSpec("list_actions", "Every action a step may take: kind, undo, params (describe_action has one in "
                    "full).", _object({}), OFFLINE, "plan")


def describe_tool() -> ToolSpec:
    return ToolSpec("describe_action", "One action in full: its params schema (for step's params), the answer's "
                    "shape, kind, undo, deferral, key carrier.",
                    _object({"action": {"type": "string"}}), OFFLINE, "meta")


def meta_tools() -> list[ToolSpec]:
    """The catalog behind three tools: search it, read one action, take a step of any action."""
    kinds = [k.value for k in StepKind if k is not StepKind.PIVOT]
    return [
        ToolSpec("find_actions", "Search the actions a step may take (words, or a glob such as stripe.*): each with "
                 "its kind, undo and params.",
                 _object({"query": nullable({"type": "string"}), "provider": nullable({"type": "string"}),
                          "kind": nullable({"type": "string", "enum": kinds})}), OFFLINE, "meta"),
        describe_tool(),
        generic_step_tool(
            "step", "One step of the saga `saga`: a catalog action (find_actions) with its params (describe_action). "
            "Compensable: runs now, verified, undone if the saga unwinds. Retryable or noncompensable: asked before "
            "the point of no return, deferred to saga_commit. The same write under a new step id answers the "
            "earlier step as duplicate_of, writing nothing. " + RELAY,
            ToolHints(), "meta"),
    ]


def resolve_mode(mode: ToolMode, actions: int) -> Literal["full", "meta"]:
    """`auto`: one tool per action up to `META_ABOVE` actions, the meta tools above."""
    if mode == "auto":
        return "meta" if actions > META_ABOVE else "full"
    return mode


def tool_specs(catalog: Catalog, actions: Iterable[str] | None = None, mode: ToolMode = "full") -> list[ToolSpec]:
    """Every tool of `mode`: in full mode one per (selected) catalog action, then the controls and the
    plan path; in meta mode the meta tools instead of the per-action ones."""
    selected = select_actions(catalog, actions)
    if resolve_mode(mode, len(selected)) == "meta":
        return [*meta_tools(), *control_tools()]
    steps = [step_tool(a, connections=catalog.connections.get(a.provider, frozenset())) for a in selected]
    return [*steps, *control_tools(), *plan_tools(), list_tool(), describe_tool()]


def mcp_tool(spec: ToolSpec) -> dict[str, Any]:
    """One tool as MCP's `tools/list` carries it."""
    tool: dict[str, Any] = {"name": spec.name, "description": spec.description, "inputSchema": spec.input_schema}
    if annotations := spec.hints.annotations():
        tool["annotations"] = annotations
    if spec.meta:
        tool["_meta"] = spec.meta
    return tool


def render_tools(catalog: Catalog, fmt: Format, actions: Iterable[str] | None = None, *, mode: ToolMode = "full",
                 strict: bool = False) -> Any:
    """The tools in a vendor's format. `strict` marks OpenAI functions `"strict": true` (the schemas are
    strict-ready in every format; Anthropic's and Gemini's strict modes are not asked for)."""
    specs = tool_specs(catalog, actions, mode)
    if fmt == "anthropic":
        return [{"name": s.name, "description": s.description, "input_schema": s.input_schema} for s in specs]
    if fmt == "openai":
        return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                                  "parameters": s.input_schema, **({"strict": True} if strict else {})}}
                for s in specs]
    if fmt == "gemini":
        return [{"function_declarations": [{"name": s.name, "description": s.description,
                                            "parameters_json_schema": s.input_schema} for s in specs]}]
    return {"tools": [mcp_tool(s) for s in specs]}
