"""`pivot mcp --transport http`: the SDK's streamable HTTP app, served by hypercorn in this process.

Stateless mode (no MCP session to remember) because the server holds no state: every tool call
names its saga, so any replica, or this one after a restart, answers any request. SIGTERM and
SIGINT stop it cleanly (hypercorn drains, then the SDK's session manager shuts down).

`PIVOT_MCP_TOKEN`, when set, is a bearer token every request must carry. It is read from the
environment only (never a flag, which `ps` would show) and never logged. Who may reach the server
(token, Host/Origin allow-list, no token-less serving beyond loopback) is `mcp_access`'s job.
"""

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.types import ASGIApp, Receive, Scope, Send

from pivot.services.agents.mcp_access import BearerToken, HttpAccess

if TYPE_CHECKING:  # the SDK is optional: `pivot mcp`'s options are read without it
    from mcp.server.mcpserver import MCPServer

MCP_PATH = "/mcp"
DEFAULT_BIND = "127.0.0.1:9096"


def split_bind(bind: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) → (host without brackets, port)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--bind wants HOST:PORT, e.g. {DEFAULT_BIND}; got {bind!r}")
    return host.strip("[]"), int(port)


class PostOnly:
    """Answer GET with 405: the spec's way to say "no server-initiated stream here".

    Stateless, this server never pushes anything, so a GET stream would only stay open doing
    nothing and hold up every shutdown for the whole graceful timeout."""

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"allow", b"POST"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._app(scope, receive, send)


def http_app(server: "MCPServer", access: HttpAccess) -> ASGIApp:
    """The ASGI app: the SDK's streamable HTTP endpoint at /mcp, behind the bearer token if any.

    JSON responses (no SSE stream) since no tool streams progress. The SDK checks Host and Origin
    against `access` (DNS rebinding protection), on every bind, not only on loopback as it would by
    itself. The token is checked first, so a caller without it learns nothing else."""
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                         allowed_hosts=list(access.allowed_hosts),
                                         allowed_origins=list(access.allowed_origins))
    app: ASGIApp = PostOnly(server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True,
                                                       json_response=True, transport_security=security))
    return BearerToken(app, access.token) if access.token else app


async def serve_http(server: "MCPServer", bind: str, access: HttpAccess, graceful_timeout_s: float = 5.0) -> None:
    """Serve until SIGTERM or SIGINT."""
    host, port = split_bind(bind)
    if access.warning:
        print(access.warning, file=sys.stderr, flush=True)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = graceful_timeout_s
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # one handler: the root logger's, on stderr
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app: Any = http_app(server, access)
    required = " (bearer token required)" if access.token else ""
    print(f"pivot mcp: serving http://{config.bind[0]}{MCP_PATH}{required}", file=sys.stderr, flush=True)
    await serve(app, config, shutdown_trigger=stop.wait)
