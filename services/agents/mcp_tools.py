"""A `ToolSpec` as the SDK's `Tool`, exactly: the input schema, output schema and annotations a
client sees are the ones `tools_schema` generates, never a copy re-derived from a Python signature.

The SDK still validates each call's top-level arguments before a handler runs; the argument
models below forbid unknown names, so a misspelt `pivot` is refused instead of silently dropped,
and are strict, so `"pivot": "yes"` is refused instead of read as true.
Everything inside `params` and `plan` is checked by the service itself (or `validate_plan`),
which names each problem with its fix.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import ConfigDict

from services.agents.tools_schema import ToolSpec

Handler = Callable[..., Awaitable[CallToolResult]]


class _Args(ArgModelBase):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


class StepArgs(_Args):
    saga: str
    step: str
    params: dict[str, Any]
    connection: str = "default"


class PivotStepArgs(StepArgs):
    """The arguments of an action that may be the point of no return."""

    pivot: bool = False


class SagaArgs(_Args):
    saga: str


class AbortArgs(SagaArgs):
    reason: str | None = None


class RunArgs(_Args):
    run_id: str
    plan: dict[str, Any]


class PlanArgs(_Args):
    plan: dict[str, Any]


class NoArgs(_Args):
    pass


def step_args(spec: ToolSpec) -> type[StepArgs]:
    """`pivot` is an argument only where the generated schema offers it."""
    return PivotStepArgs if "pivot" in spec.input_schema.get("properties", {}) else StepArgs


def annotations(spec: ToolSpec) -> ToolAnnotations:
    return ToolAnnotations(title=spec.title, read_only_hint=spec.hints.read_only,
                           destructive_hint=spec.hints.destructive, idempotent_hint=spec.hints.idempotent,
                           open_world_hint=spec.hints.open_world)


def as_tool(spec: ToolSpec, handler: Handler, args: type[ArgModelBase]) -> Tool:
    """The SDK tool for `spec`, answered by `handler(**validated args)`, which returns the whole
    `CallToolResult` itself (structured content, text, `is_error`)."""
    metadata = FuncMetadata(arg_model=args, output_schema=spec.output_schema)
    return Tool(fn=handler, name=spec.name, title=spec.title, description=spec.description,
                parameters=spec.input_schema, fn_metadata=metadata, is_async=True, context_kwarg=None,
                annotations=annotations(spec))
