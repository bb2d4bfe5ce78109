"""`pivot mcp`: Pivot's agent tools over MCP, served with the official SDK (stdio or streamable HTTP).

The tools are the ones `tools_schema` generates from the catalog, registered as they are: one per
action with the open saga's controls and the plan path (`--tools full`), or a handful whatever the
catalog's size (`--tools meta`: find_actions, describe_action, step, saga_preview and the controls);
`auto`, the default, picks meta above `tools_schema.META_ABOVE` actions. Sagas are resources too
(`saga://<run>`, `saga://<run>/journal`: `mcp_resources`). Each handler makes one call to
Restate's ingress through `PivotClient`: the server keeps no state of its own, because every
call names its saga and Restate keeps the saga. So the process can be restarted, or replicated
behind a load balancer, mid-task, and the agent's next call carries on where it was.

    python -m pivot.services.agents.mcp_server [--transport stdio|http] [--ingress URL] [--admin URL]
                                         [--tools full|meta|auto] [--actions GLOB ...]
"""

import asyncio
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase

from pivot.compensations.actions import Catalog
from pivot.services.admin import DEFAULT_ADMIN
from pivot.services.agents.mcp_access import HttpAccess, http_access
from pivot.services.agents.mcp_chat import ChatSteps
from pivot.services.agents.mcp_handlers import PivotTools
from pivot.services.agents.mcp_http import DEFAULT_BIND, serve_http, split_bind
from pivot.services.agents.mcp_resources import PivotServer, RecentSagas, add_saga_resources
from pivot.services.agents.mcp_tools import (
    AbortArgs,
    AnyStepArgs,
    DescribeArgs,
    FindArgs,
    Handler,
    NoArgs,
    PlanArgs,
    RunArgs,
    SagaArgs,
    as_tool,
    step_args,
)
from pivot.services.agents.tools_schema import ToolMode, ToolSpec, select_actions, tool_specs
from pivot.services.catalog import build_catalog
from pivot.services.client import PivotClient

Transport = Literal["stdio", "http"]

INSTRUCTIONS = (
    "Pivot makes multi-system writes safe. Give every call of one task the same `saga` id (a new id per task) "
    "and each write its own `step` id. A compensable step runs at once and is verified; one that cannot be undone "
    "is deferred and sent only at saga_commit. Call saga_commit when every step has verified, or saga_abort to "
    "undo them. The same saga and step id never writes twice. The same write under a new step id is answered "
    "with the earlier step, marked duplicate_of, and writes nothing: send repeat: true only when a second, "
    "identical write is meant. A param may take an earlier step's verified value: {\"$from\": \"<step>.<field>\"}, "
    "or text {\"$template\": \"Invoice {<step>.<field>} sent\"}. saga_preview says what a step would do, doing "
    "nothing. Relay the saga's `summary` to the user as it is: it says only what was verified. "
    "Read saga://<saga> for the live outcome and saga://<saga>/journal for its history."
)


def _handlers(tools: PivotTools) -> dict[str, tuple[Handler, type[ArgModelBase]]]:
    return {
        "saga_commit": (tools.commit, SagaArgs),
        "saga_abort": (tools.abort, AbortArgs),
        "saga_status": (tools.status, SagaArgs),
        "saga_preview": (tools.preview(), AnyStepArgs),
        "find_actions": (tools.find_actions, FindArgs),
        "describe_action": (tools.describe_action, DescribeArgs),
        "run_saga_plan": (tools.run_plan, RunArgs),
        "check_plan": (tools.check_plan, PlanArgs),
        "list_actions": (tools.list_actions, NoArgs),
    }


def build_server(client: PivotClient, ingress_url: str, catalog: Catalog, actions: Iterable[str] | None = None,
                 *, mode: ToolMode = "auto", admin_url: str = DEFAULT_ADMIN) -> MCPServer:
    """The MCP server with the tools of `tools_schema` in `mode` (the step tools of the actions
    matching the `actions` globs, or of all of them) and the saga resources."""
    patterns = list(actions or [])
    if patterns and not select_actions(catalog, patterns):
        raise ValueError(f"no action matches {' '.join(patterns)}; the actions are: {', '.join(sorted(catalog))}")
    recent = RecentSagas()
    tools = PivotTools(client, ingress_url, catalog, recent)
    handlers = _handlers(tools)
    steps = ChatSteps(tools, client)

    def tool(spec: ToolSpec) -> Tool:
        """A step tool takes its step with the chat channel (`mcp_chat`); the others just answer."""
        if spec.role == "step" and spec.action is not None:
            return steps.tool(spec, step_args(spec), spec.action)
        if spec.name == "step":
            return steps.tool(spec, AnyStepArgs, None)
        return as_tool(spec, *handlers[spec.name])

    server = PivotServer("pivot", title="Pivot", version=importlib.metadata.version("pivot"),
                         instructions=INSTRUCTIONS, log_level="WARNING", recent=recent,
                         tools=[tool(spec) for spec in tool_specs(catalog, patterns, mode)])
    add_saga_resources(server, client, admin_url)
    return server


class CannotServe(Exception):
    """The options name something that cannot be served (a bad --bind, globs matching no action,
    a non-loopback bind without a token or without a host name to check Host/Origin against)."""


@dataclass(frozen=True)
class ServeOptions:
    ingress_url: str
    transport: Transport = "stdio"
    bind: str = DEFAULT_BIND
    actions: tuple[str, ...] = ()
    mode: ToolMode = "auto"
    admin_url: str = DEFAULT_ADMIN
    """Restate's admin API, for the `saga://<run>/journal` resources."""
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
    with PivotClient(options.ingress_url, admin_url=options.admin_url) as client:
        try:
            access = _http_access(options) if options.transport == "http" else None
            server = build_server(client, options.ingress_url, build_catalog(), options.actions,
                                  mode=options.mode, admin_url=options.admin_url)
        except ValueError as invalid:
            raise CannotServe(str(invalid)) from invalid
        if access is None:
            anyio.run(server.run_stdio_async)
        else:
            asyncio.run(serve_http(server, options.bind, access))


def main(argv: list[str] | None = None) -> int:
    """`python -m pivot.services.agents.mcp_server`: the same options as `pivot mcp`."""
    import argparse

    from pivot.services.cli.mcp_command import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m pivot.services.agents.mcp_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, os.environ.get("PIVOT_INGRESS_URL", "http://127.0.0.1:8080"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
