"""`pivot mcp config`: the JSON an MCP client needs to start (or reach) `pivot mcp`, ready to paste.

`examples/mcp.json` said `"command": "pivot"`, which no PATH holds after the README's install
(`.venv/bin/pivot`): a desktop client failed with "command not found". This prints the absolute
path of the `pivot` installed beside the running Python, and the addresses this shell would use,
in the shape each client reads: `mcpServers` for Claude (Desktop, and Code's `.mcp.json`) and
Cursor, `servers` (with `type`) for VS Code. A bearer token is never written into the file: the
HTTP transport's header refers to `PIVOT_MCP_TOKEN` in the client's own syntax (VS Code prompts
for it), and only when the server asks for one.
"""

import os
import sys
from pathlib import Path
from typing import Any

CLIENTS = ("claude", "cursor", "vscode", "generic")
WHERE = {
    "claude": "Claude Desktop: the mcpServers of claude_desktop_config.json; Claude Code: a project's .mcp.json",
    "cursor": "Cursor: .cursor/mcp.json in a project, or ~/.cursor/mcp.json",
    "vscode": "VS Code: .vscode/mcp.json in a workspace, or the user profile's mcp.json",
    "generic": "any client that reads mcpServers",
}
TOKEN_REFERENCE = {"claude": "${PIVOT_MCP_TOKEN}", "cursor": "${env:PIVOT_MCP_TOKEN}",
                   "vscode": "${input:pivot-mcp-token}", "generic": "${PIVOT_MCP_TOKEN}"}
PASSED_ON = ("PIVOT_CATALOG_PLUGINS", "PIVOT_CONNECTIONS_FILE", "PIVOT_CHAT_APPROVER", "PIVOT_APPROVAL_PAGE_URL",
             "PIVOT_STATE_DIR")
"""Settings passed on when this shell has them, none a secret: what shapes the catalog the tools
come from, and the chat channel's (who the client's user is as an approver, the approval page, and
the local stack whose approvers file holds their token). A token is never written into the file:
the chat approver's comes from the local stack's approvers file, or from `PIVOT_APPROVERS` set in
the server's environment by the client's own means."""


def pivot_command() -> tuple[str, list[str]]:
    """The `pivot` installed beside this Python, by absolute path; else this Python running the CLI.

    The path is not resolved: a virtualenv's bin/python is a symlink whose target knows nothing of
    the virtualenv."""
    python = Path(sys.executable).absolute()
    installed = python.parent / "pivot"
    if installed.is_file() and os.access(installed, os.X_OK):
        return str(installed), []
    return str(python), ["-m", "pivot.services.cli"]


def stdio_server(ingress: str, admin: str) -> dict[str, Any]:
    command, args = pivot_command()
    env = {"PIVOT_INGRESS_URL": ingress, "PIVOT_ADMIN_URL": admin,
           **{name: os.environ[name] for name in PASSED_ON if os.environ.get(name)}}
    return {"command": command, "args": [*args, "mcp"], "env": env}


def client_config(client: str, transport: str, *, ingress: str, admin: str, url: str,
                  token: bool) -> dict[str, Any]:
    """The configuration `client` reads, for `pivot mcp` over `transport` (stdio: spawned; http: at `url`)."""
    server: dict[str, Any]
    if transport == "stdio":
        server = stdio_server(ingress, admin)
        if client in ("vscode", "generic"):
            server = {"type": "stdio", **server}
    else:
        server = {"url": url} if client == "cursor" else {"type": "http", "url": url}
        if token:
            server["headers"] = {"Authorization": f"Bearer {TOKEN_REFERENCE[client]}"}
    if client != "vscode":
        return {"mcpServers": {"pivot": server}}
    inputs = [{"type": "promptString", "id": "pivot-mcp-token", "password": True,
               "description": "PIVOT_MCP_TOKEN: the bearer token pivot mcp --transport http asks for"}]
    return {**({"inputs": inputs} if transport == "http" and token else {}), "servers": {"pivot": server}}
