"""`pivot mcp` as the tests run it: the command, its environment, and the HTTP transport as a
process on a free loopback port (stopped by its pid)."""

import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, Tool

from pivot.services.agents.tools_schema import tool_name
from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT

SERVER = [str(Path(sys.executable).parent / "pivot"), "mcp"]  # the command examples/mcp.json spawns
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "0"}}}
ACCEPT = {"accept": "application/json, text/event-stream"}


def server_env(ingress_url: str, admin_url: str | None = None) -> dict[str, str]:
    """The test process's own PIVOT_* settings (so both sides build the same catalog), the ingress,
    and Restate's admin API (for the saga journal resources)."""
    admin = {"PIVOT_ADMIN_URL": admin_url} if admin_url else {}
    return {**{k: v for k, v in os.environ.items() if k.startswith("PIVOT_")}, "PIVOT_INGRESS_URL": ingress_url,
            **admin}


@asynccontextmanager
async def stdio_session(ingress_url: str, errlog: Path, admin_url: str | None = None) -> AsyncIterator[ClientSession]:
    """`pivot mcp` over stdio, spawned as a desktop client would, with an initialized session."""
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:], env=server_env(ingress_url, admin_url),
                                   cwd=PROJECT_ROOT)
    async with spawned_session(params, errlog) as session:
        yield session


@asynccontextmanager
async def spawned_session(params: StdioServerParameters, errlog: Path) -> AsyncIterator[ClientSession]:
    """The official client spawning the server `params` names (command, args, env, cwd), initialized."""
    with errlog.open("w") as log:
        async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def start_http_server(ingress_url: str, log_dir: Path, *args: str, token: str | None = None,
                      admin_url: str | None = None) -> tuple[ManagedProcess, str]:
    """`pivot mcp --transport http` on 127.0.0.1 and a free port, answering; its /mcp URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")}
    env |= server_env(ingress_url, admin_url) | ({"PIVOT_MCP_TOKEN": token} if token else {})
    proc = ManagedProcess(f"pivot-mcp-{port}", [*SERVER, "--transport", "http", "--bind", f"127.0.0.1:{port}", *args],
                          env=env, cwd=PROJECT_ROOT, log_path=log_dir / f"mcp-http-{port}.log")
    proc.start()
    url = f"http://127.0.0.1:{port}/mcp"

    def answering() -> bool:
        proc.check_alive()
        return httpx.post(url, json=INITIALIZE, timeout=2, headers=ACCEPT).status_code in {200, 401}

    try:
        wait_until(answering, timeout_s=30, what="pivot mcp --transport http")
    except BaseException:
        proc.stop()
        raise
    return proc, url


@asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    """The official client's session with `pivot mcp --transport http` (the token as a bearer)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session):
        await session.initialize()
        yield session


@dataclass
class McpTools:
    """A connected MCP client session, called from sync tests through a blocking portal."""

    portal: BlockingPortal
    session: ClientSession

    def list_tools(self) -> list[Tool]:
        return list(self.portal.call(self.session.list_tools).tools)

    def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        answer = self.portal.call(self.session.call_tool, name, arguments)
        assert isinstance(answer, CallToolResult)
        return answer

    def step(self, saga: str, call: dict[str, Any], **extra: Any) -> CallToolResult:
        return self.call(tool_name(call["action"]), {"saga": saga, "step": call["step"], "params": call["params"],
                                                    **extra})


@contextmanager
def stdio_tools(ingress_url: str, errlog: Path, admin_url: str | None = None) -> Iterator[McpTools]:
    """`pivot mcp` over stdio (spawned as an IDE spawns it), callable from sync tests."""
    with start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(stdio_session(ingress_url, errlog, admin_url)) as session:
        yield McpTools(portal, session)


@contextmanager
def configured_tools(server: dict[str, Any], errlog: Path, cwd: Path) -> Iterator[McpTools]:
    """The stdio server of an MCP client configuration (`{"command", "args", "env"}`), spawned as the
    client would in `cwd`: the client's environment is the SDK's default one plus the config's `env`."""
    params = StdioServerParameters(command=server["command"], args=server.get("args", []), env=server.get("env"),
                                   cwd=cwd)
    with start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(spawned_session(params, errlog)) as session:
        yield McpTools(portal, session)


@contextmanager
def http_tools(url: str, token: str | None = None) -> Iterator[McpTools]:
    """A session with `pivot mcp --transport http`, callable from sync tests."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(http_session(url, token)) as session:
        yield McpTools(portal, session)


@contextmanager
def http_server(ingress_url: str, log_dir: Path, *args: str, token: str | None = None,
                admin_url: str | None = None) -> Iterator[str]:
    """`start_http_server` for a `with` block: its /mcp URL, the process stopped on the way out."""
    proc, url = start_http_server(ingress_url, log_dir, *args, token=token, admin_url=admin_url)
    try:
        yield url
    finally:
        proc.stop()
