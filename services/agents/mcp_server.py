"""`pivot mcp`: Pivot's agent tools over MCP, served with the official SDK (stdio or streamable HTTP).

The tools are the ones `tools_schema` generates from the catalog (one per action, the open
saga's controls, the plan path), registered as they are. Each handler makes one call to
Restate's ingress through `PivotClient`: the server keeps no state of its own, because every
call names its saga and Restate keeps the saga. So the process can be restarted, or replicated
behind a load balancer, mid-task, and the agent's next call carries on where it was.

    python -m services.agents.mcp_server [--transport stdio|http] [--ingress URL] [--actions GLOB ...]
"""

import asyncio
import functools
import importlib.metadata
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult

from compensations.actions import Catalog
from compensations.ids import InvalidId
from compensations.validation import PlanRejected, check_horizon, validate_plan
from services.agents.mcp_access import HttpAccess, http_access
from services.agents.mcp_http import DEFAULT_BIND, serve_http, split_bind
from services.agents.mcp_results import (
    failure_result,
    not_found_result,
    outcome_result,
    refusal_result,
    result,
    step_result,
    unreachable_result,
)
from services.agents.mcp_tools import AbortArgs, Handler, NoArgs, PlanArgs, RunArgs, SagaArgs, as_tool, step_args
from services.agents.tools_schema import ToolSpec, action_json, select_actions, tool_specs
from services.catalog import build_catalog
from services.cli.explain import explain, explanation_text
from services.client import PivotClient, PivotError

Answer = TypeVar("Answer")
Transport = Literal["stdio", "http"]

INSTRUCTIONS = (
    "Pivot makes multi-system writes safe. Give every call of one task the same `saga` id (a new id per "
    "task). Each action tool is one step: it runs at once and is verified, or, if it cannot be undone, it "
    "is deferred and sent only at saga_commit. Call saga_commit when every step has verified, or saga_abort "
    "to undo them. Calling again with the same saga and step id never writes twice. Relay the saga's "
    "`summary` to the user as it is: it says only what was verified."
)


class PivotTools:
    """The tool handlers. Each makes one ingress call on a worker thread (the client is sync) and
    turns the answer, or the refusal, into a tool result."""

    def __init__(self, client: PivotClient, ingress_url: str, catalog: Catalog):
        self._client = client
        self._ingress_url = ingress_url
        self._catalog = catalog

    async def _ask(self, call: Callable[[], Answer], answer: Callable[[Answer], CallToolResult]) -> CallToolResult:
        try:
            body = await anyio.to_thread.run_sync(call)
        except InvalidId as invalid:  # the client checks ids before it sends anything
            return failure_result(f"Refused: {invalid}. Nothing was recorded or written.")
        except PivotError as refused:
            return refusal_result(refused)
        except httpx.HTTPError as error:
            return unreachable_result(self._ingress_url, error)
        return answer(body)

    def step(self, action: str) -> Handler:
        """The handler of one action's tool: a step of the saga the call names."""

        async def take_step(saga: str, step: str, params: dict[str, Any], pivot: bool = False,
                            connection: str = "default") -> CallToolResult:
            call = functools.partial(self._client.step, saga, step, action, params, pivot=pivot,
                                     connection=connection)
            return await self._ask(call, step_result)

        return take_step

    async def commit(self, saga: str) -> CallToolResult:
        return await self._ask(functools.partial(self._client.commit, saga),
                               functools.partial(outcome_result, failed_if={"compensated", "needs_attention"}))

    async def abort(self, saga: str, reason: str | None = None) -> CallToolResult:
        return await self._ask(functools.partial(self._client.abort, saga, reason),
                               functools.partial(outcome_result, failed_if={"needs_attention"}))

    async def status(self, saga: str) -> CallToolResult:
        def answer(outcome: dict[str, Any]) -> CallToolResult:
            if outcome.get("status") == "not_found":
                return not_found_result(saga)
            return outcome_result(outcome, failed_if=set())

        return await self._ask(functools.partial(self._client.status, saga), answer)

    async def run_plan(self, run_id: str, plan: dict[str, Any]) -> CallToolResult:
        return await self._ask(functools.partial(self._client.run, run_id, plan),
                               functools.partial(outcome_result, failed_if={"compensated", "needs_attention"}))

    async def check_plan(self, plan: dict[str, Any]) -> CallToolResult:
        """Offline: the same checks the service runs, and what it would do with the plan."""
        try:
            validated = validate_plan(plan, self._catalog)
            check_horizon(validated, time.time())
        except PlanRejected as rejected:
            violations = [v.model_dump() for v in rejected.violations]
            lines = [f"Invalid plan ({len(violations)} problem(s)); nothing would run:",
                     *(f"- {v['path']}: {v['message']}. Fix: {v['fix']}" for v in violations)]
            return result({"valid": False, "violations": violations}, lines, is_error=False)
        explanation = explain(validated, self._catalog)
        return result({"valid": True, **explanation.model_dump(mode="json")},
                      ["Valid plan (nothing was run):", *explanation_text(explanation)], is_error=False)

    async def list_actions(self) -> CallToolResult:
        actions = [action_json(self._catalog[name]) for name in sorted(self._catalog)]
        lines = [f"{a['name']} ({a['kind']}{', may be the pivot' if a['pivot_eligible'] else ''}): "
                 f"undo: {a['compensation']}" for a in actions]
        return result({"actions": actions}, lines, is_error=False)


def _control(tools: PivotTools) -> dict[str, tuple[Handler, type[ArgModelBase]]]:
    return {
        "saga_commit": (tools.commit, SagaArgs),
        "saga_abort": (tools.abort, AbortArgs),
        "saga_status": (tools.status, SagaArgs),
        "run_saga_plan": (tools.run_plan, RunArgs),
        "check_plan": (tools.check_plan, PlanArgs),
        "list_actions": (tools.list_actions, NoArgs),
    }


def build_server(client: PivotClient, ingress_url: str, catalog: Catalog,
                 actions: Iterable[str] | None = None) -> MCPServer:
    """The MCP server with every tool of `tools_schema` (the step tools of the actions matching
    the `actions` globs, or of all of them)."""
    patterns = list(actions or [])
    if patterns and not select_actions(catalog, patterns):
        raise ValueError(f"no action matches {' '.join(patterns)}; the actions are: {', '.join(sorted(catalog))}")
    tools = PivotTools(client, ingress_url, catalog)
    controls = _control(tools)

    def handler(spec: ToolSpec) -> tuple[Handler, type[ArgModelBase]]:
        if spec.role == "step" and spec.action is not None:
            return tools.step(spec.action), step_args(spec)
        return controls[spec.name]

    return MCPServer("pivot", title="Pivot", version=importlib.metadata.version("pivot"),
                     instructions=INSTRUCTIONS, log_level="WARNING",
                     tools=[as_tool(spec, *handler(spec)) for spec in tool_specs(catalog, patterns)])


class CannotServe(Exception):
    """The options name something that cannot be served (a bad --bind, globs matching no action,
    a non-loopback bind without a token or without a host name to check Host/Origin against)."""


@dataclass(frozen=True)
class ServeOptions:
    ingress_url: str
    transport: Transport = "stdio"
    bind: str = DEFAULT_BIND
    actions: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    """Host names (optionally :port) clients reach the HTTP transport by; Host/Origin are checked."""
    insecure_no_token: bool = False
    """Serve beyond loopback without PIVOT_MCP_TOKEN (refused otherwise)."""


def _http_access(options: ServeOptions) -> HttpAccess:
    host, port = split_bind(options.bind)
    return http_access(host, port, os.environ.get("PIVOT_MCP_TOKEN") or None, options.allow_hosts,
                       options.insecure_no_token)


def serve(options: ServeOptions) -> None:
    """Serve until the client goes away (stdio) or SIGTERM/SIGINT (http). Whatever is wrong with
    the options is refused (CannotServe) before anything is bound."""
    with PivotClient(options.ingress_url) as client:
        try:
            access = _http_access(options) if options.transport == "http" else None
            server = build_server(client, options.ingress_url, build_catalog(), options.actions)
        except ValueError as invalid:
            raise CannotServe(str(invalid)) from invalid
        if access is None:
            anyio.run(server.run_stdio_async)
        else:
            asyncio.run(serve_http(server, options.bind, access))


def main(argv: list[str] | None = None) -> int:
    """`python -m services.agents.mcp_server`: the same options as `pivot mcp`."""
    import argparse

    from services.cli.mcp_command import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m services.agents.mcp_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, os.environ.get("PIVOT_INGRESS_URL", "http://127.0.0.1:8080"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
