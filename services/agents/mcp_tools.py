"""A `ToolSpec` as the SDK's `Tool`, exactly: the input schema, annotations and `_meta` a client sees
are the ones `tools_schema` generates, never a copy re-derived from a Python signature.

The SDK still validates each call's top-level arguments before a handler runs; the argument
models below forbid unknown names, so a misspelt `pivot` is refused instead of silently dropped,
and are strict, so `"pivot": "yes"` is refused instead of read as true. They take `null` wherever
the published schema does (strict mode makes a model send every optional argument, as null when
it means "not given") and also take an argument left out (clients that are not strict).
Everything inside `params` and `plan` is checked by the service itself (or `validate_plan`),
which names each problem with its fix.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.mcpserver.resolve import Resolve, build_resolver_plans
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict

from pivot.services.agents.tools_schema import ToolSpec

Handler = Callable[..., Awaitable[CallToolResult]]


class _Args(ArgModelBase):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


class SagaArgs(_Args):
    saga: str


class StepArgs(SagaArgs):
    """An action's own tool: the action is the tool's."""

    step: str
    params: dict[str, Any]
    connection: str | None = None
    repeat: bool | None = None


class PivotStepArgs(StepArgs):
    """The arguments of an action that may be the point of no return."""

    pivot: bool | None = None


class AnyStepArgs(SagaArgs):
    """`step` and `saga_preview`: any action, its params as JSON text (or, from a client that is
    not strict, the object itself)."""

    step: str
    action: str
    params: Any = None
    """JSON text, or the object (checked by the handler: a refusal it can word)."""
    pivot: bool | None = None
    connection: str | None = None
    approval: dict[str, Any] | None = None
    repeat: bool | None = None


class AbortArgs(SagaArgs):
    reason: str | None = None


class PlanArgs(_Args):
    plan: dict[str, Any] | str
    """check_plan takes the plan as JSON text (one schema less in every tool list); an object is fine too."""


class RunArgs(_Args):
    plan: dict[str, Any]
    run_id: str


class FindArgs(_Args):
    query: str | None = None
    provider: str | None = None
    kind: str | None = None


class DescribeArgs(_Args):
    action: str


class NoArgs(_Args):
    pass


def step_args(spec: ToolSpec) -> type[StepArgs]:
    """`pivot` is an argument only where the generated schema offers it."""
    return PivotStepArgs if "pivot" in spec.input_schema.get("properties", {}) else StepArgs


def annotations(spec: ToolSpec) -> ToolAnnotations:
    """Only the hints that differ from MCP's defaults: the rest are left unset, which means them."""
    hints = spec.hints.annotations()
    return ToolAnnotations(read_only_hint=hints.get("readOnlyHint"), destructive_hint=hints.get("destructiveHint"),
                           idempotent_hint=hints.get("idempotentHint"), open_world_hint=hints.get("openWorldHint"))


Resolved = Mapping[str, tuple[Resolve, bool]]
"""Handler parameters the SDK fills by running a resolver before the handler (`mcp_chat`): the
`Resolve` marker, and whether the handler takes the whole elicitation outcome (True) or its value."""


def as_tool(spec: ToolSpec, handler: Handler, args: type[ArgModelBase], resolved: Resolved | None = None) -> Tool:
    """The SDK tool for `spec`, answered by `handler(**validated args, **resolved values)`, which
    returns the whole `CallToolResult` itself (structured content, text, `is_error`). No output
    schema: every answer has one of two shapes (`describe_action` gives them), carried as
    structured content anyway."""
    resolved = dict(resolved or {})
    return Tool(fn=handler, name=spec.name, title=None, description=spec.description, parameters=spec.input_schema,
                fn_metadata=FuncMetadata(arg_model=args), is_async=True, context_kwarg=None,
                resolved_params=resolved, resolver_plans=build_resolver_plans(resolved, set(args.model_fields)),
                annotations=annotations(spec), meta=spec.meta)
