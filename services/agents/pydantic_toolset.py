"""Pivot's catalog actions as a pydantic-ai toolset, for agents that a Restate handler hosts.

An agent run by `restate.ext.pydantic.RestateAgent` inside a handler gets one tool per catalog
action. Each tool call is one step of the handler's own saga (`pivot.compensations.saga.Saga`), run in
the handler's own journal:

- the step id is the tool call's id, which RestateAgent journals with the model's answer, so a
  replay asks for the same step and the saga answers it from the journal instead of writing;
- the step protocol journals its write itself (one `ctx.run` per step: lookup → write →
  read-back). This toolset is not a `FunctionToolset`, so `RestateAgent(auto_wrap_tools=True)`
  leaves it alone: wrapping a step in a second `ctx.run` would nest journal entries, which
  Restate forbids;
- the tools are `sequential` barriers: the saga's record lives in the handler's memory and is
  rebuilt by replay, so steps must be taken in the order the model asked for them.

What the model gets back: the verified step and the saga (`StepAnswer` JSON, the tool's output
schema). A step the saga refuses as asked (400: bad params, unknown reference) is a `ModelRetry`:
the model corrects its arguments and calls again, within the tool's retry budget. A refusal of a
well-formed call (409: past the point of no return, the saga closed) and a step that failed under
the `report` policy are a `ToolFailed`: the model sees the failure and takes another route, and no
retry budget is spent (the same call could never succeed). A failure that ends the saga raises
`SagaEnded` out of the agent run: the run stops, nothing more is asked of the model.

Names, descriptions and schemas come from `pivot.services.agents.tools_schema`, the one source every
agent surface uses. In a handler the saga is implicit (the handler's) and the step id is the
tool-call id, so the tools take just `{"params": {...}}` (and `pivot` where the action may be one).

The saga reaches the tools through `bind_saga` (a context variable, like Restate's own current
context): RestateAgent fixes an agent's toolsets when it wraps the agent, and ignores toolsets
passed at run time, so the toolset is registered once on the `Agent` and the saga of each
invocation is bound around its run. `pivot.services.agents.pydantic_saga.run_agent_saga` does both.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Required, TypedDict, cast

from pydantic_ai import AbstractToolset, ModelRetry, RunContext, ToolDefinition, ToolFailed, ToolsetTool, UserError
from pydantic_core import SchemaValidator, core_schema

from pivot.compensations.actions import Action, Catalog
from pivot.compensations.connections import DEFAULT_CONNECTION
from pivot.compensations.error_body import ErrorBody
from pivot.compensations.ids import STEP_ID_PATTERN
from pivot.compensations.kinds import StepState
from pivot.compensations.open_calls import StepAnswer
from pivot.compensations.saga import Saga, StepRefusedError
from pivot.services.agents.answer_text import duplicate_line
from pivot.services.agents.param_schemas import wire_params
from pivot.services.agents.tools_schema import select_actions, step_tool

DEFAULT_TOOLSET_ID = "pivot"
DEFAULT_MAX_RETRIES = 2
"""Refused calls (400) a model may correct per tool before the run fails and the saga unwinds."""

class StepArgs(TypedDict, total=False):
    """What a Pivot tool takes: the action's params (`$from` references allowed) and, as strict mode
    has a model send them, `pivot` (for an action that may be the point of no return), `connection`
    and `repeat`, each null when not meant. The saga checks the params against the action's own
    model, so a bad value comes back as a refusal naming it."""

    params: Required[dict[str, Any]]
    pivot: bool | None
    connection: str | None
    repeat: bool | None


def _optional(schema: core_schema.CoreSchema) -> core_schema.TypedDictField:
    return core_schema.typed_dict_field(core_schema.nullable_schema(schema), required=False)


_ARGS = SchemaValidator(core_schema.typed_dict_schema({
    "params": core_schema.typed_dict_field(core_schema.dict_schema(core_schema.str_schema(), core_schema.any_schema())),
    "pivot": _optional(core_schema.bool_schema(strict=True)),
    "connection": _optional(core_schema.str_schema()),
    "repeat": _optional(core_schema.bool_schema(strict=True)),
}, extra_behavior="forbid"))

_bound_saga: ContextVar[Saga | None] = ContextVar("pivot_bound_saga", default=None)


@contextmanager
def bind_saga(saga: Saga) -> Iterator[Saga]:
    """Let Pivot tools called in this block (and in the tasks it starts) take their steps in `saga`."""
    token = _bound_saga.set(saga)
    try:
        yield saga
    finally:
        _bound_saga.reset(token)


def bound_saga() -> Saga:
    saga = _bound_saga.get()
    if saga is None:
        raise UserError("a Pivot tool was called outside a saga: run the agent with "
                        "pivot.services.agents.pydantic_saga.run_agent_saga (or inside bind_saga(saga))")
    return saga


def step_id_for(tool_call_id: str) -> str:
    """The step id of a tool call: its id when it is a valid step id (what the model can refer to in
    `$from`), else a digest of it. Either way a pure function of the journaled id, so replays match."""
    if re.fullmatch(STEP_ID_PATTERN, tool_call_id):
        return tool_call_id
    return "call-" + hashlib.sha256(tool_call_id.encode()).hexdigest()[:32]


def tool_definition(action: Action, connections: frozenset[str] = frozenset()) -> ToolDefinition:
    """The shared step tool, in a handler's shape. Its schema is strict-ready (`$from` references
    included), so a provider's strict mode is asked for: the model's arguments then always parse."""
    spec = step_tool(action, in_handler=True, connections=connections)
    hints = {"read_only": spec.hints.read_only, "destructive": spec.hints.destructive,
             "idempotent": spec.hints.idempotent, "open_world": spec.hints.open_world}
    return ToolDefinition(name=spec.name, description=spec.description,
                          parameters_json_schema=spec.input_schema, sequential=True, strict=True,
                          metadata={"pivot_action": action.name, "kind": action.kind.value, "hints": hints,
                                    **(spec.meta or {})})


@dataclass(frozen=True)
class _Tool:
    action: str
    definition: ToolDefinition


class PivotToolset(AbstractToolset[Any]):
    """One tool per (selected) catalog action; each call is a step of the saga bound to the run.

        agent = RestateAgent(Agent(model, toolsets=[PivotToolset(catalog, ["hubspot.*", "stripe.*"])]))
    """

    def __init__(self, catalog: Catalog, actions: Iterable[str] | None = None, *,
                 id: str = DEFAULT_TOOLSET_ID, max_retries: int = DEFAULT_MAX_RETRIES):
        self.catalog = catalog
        self._id = id
        self.max_retries = max_retries
        tools = (_Tool(action.name, tool_definition(action, catalog.connections.get(action.provider, frozenset())))
                 for action in select_actions(catalog, actions))
        self._tools = {tool.definition.name: tool for tool in tools}

    @property
    def id(self) -> str:
        return self._id

    @property
    def tool_definitions(self) -> list[ToolDefinition]:
        return [tool.definition for tool in self._tools.values()]

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        return {name: ToolsetTool(toolset=self, tool_def=tool.definition, max_retries=self.max_retries,
                                  args_validator=_ARGS)
                for name, tool in self._tools.items()}

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any],
                        tool: ToolsetTool[Any]) -> Any:
        if ctx.tool_call_id is None:
            raise UserError(f"{name}: a Pivot tool needs the model's tool-call id (its step id)")
        try:
            return await take_step(bound_saga(), step_id_for(ctx.tool_call_id), self._tools[name].action,
                                   cast(StepArgs, tool_args))
        finally:
            _let_next_tool_run(ctx.tool_call_id)


async def take_step(saga: Saga, step_id: str, action: str, args: StepArgs) -> dict[str, Any]:
    """One tool call as one saga step. Returns the `StepAnswer` JSON; raises `ModelRetry` or
    `ToolFailed` for what the model can act on, and lets `SagaEnded` end the agent run."""
    try:
        known = saga.catalog.get(action)
        params = wire_params(known, args["params"]) if known is not None else args["params"]
        step = await saga.step(step_id, action, params,
                               pivot=bool(args.get("pivot")), connection=args.get("connection") or DEFAULT_CONNECTION,
                               repeat=bool(args.get("repeat")))
    except StepRefusedError as refused:
        error = json.dumps(ErrorBody.of(refused).body())  # the code and fields, as every surface gives them
        said = f"({refused.refused.code}); nothing was written: {refused.message}. {error}"
        if refused.status_code == 400:
            raise ModelRetry(f"The saga refused this step as asked {said}") from None
        raise ToolFailed(f"The saga cannot take this step now {said}") from None
    answer = StepAnswer(step=step, saga=saga.outcome).model_dump(mode="json", exclude_none=True)
    if step.duplicate_of:  # the write exists, once: say so, and how to mean a second one
        answer["message"] = duplicate_line(answer["step"])
    if step.state is StepState.FAILED:  # the `report` policy: recorded, and nothing of it took effect
        why = f"{step.error.code}: {step.error.message}" if step.error else "no reason given"
        raise ToolFailed(f"Step '{step.id}' failed ({why}). Nothing of it took effect and the saga is still open: "
                         f"take another route, or finish. The step and the saga: {json.dumps(answer)}")
    return answer


def _let_next_tool_run(tool_call_id: str) -> None:
    """Open RestateAgent's turnstile for the next tool call of the same model answer.

    RestateAgent makes the `ctx.run`-wrapped function tools of one answer wait their turn, in the
    answer's order, and each opens the next one's turn when it ends. A Pivot tool runs in that
    order already (it is a `sequential` barrier), but must still open the next turn, or a wrapped
    tool after it would wait forever. The turnstile is not public API: if it moves, this is a no-op
    and Pivot tools should not be mixed with auto-wrapped tools in one answer.
    """
    try:
        from restate.ext.pydantic._utils import current_state
    except ImportError:  # pragma: no cover - a restate-sdk without the turnstile
        return
    current_state().turnstile.allow_next_after(tool_call_id)
