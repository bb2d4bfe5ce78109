"""MCP client configurations that work as written: `pivot mcp config`'s for each client, and the
two in examples/, spawned or reached as the client would (the official MCP SDK's client), with a
desktop client's PATH, which has no virtualenv on it (`"command": "pivot"` failed there)."""

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pivot.services.cli.mcp_command import add_command
from pivot.services.cli.mcp_config import CLIENTS
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.mcp_process import SERVER, configured_tools, http_server, http_tools

DESKTOP_PATH = "/usr/local/bin:/usr/bin:/bin"
"""What a desktop or IDE client's environment has on PATH: nothing of the project's virtualenv."""
TOKEN = "mcp-config-test-token-2b7e"


@pytest.fixture
def desktop_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MCP SDK's client spawns with the default environment's PATH: a desktop client's."""
    monkeypatch.setenv("PATH", DESKTOP_PATH)


def mcp_config(*args: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """`pivot mcp config …` as a user runs it (the installed command, in some folder), parsed."""
    done = subprocess.run([*SERVER, "config", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


def user_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")}, **extra}


def the_server(client: str, config: dict[str, Any]) -> dict[str, Any]:
    servers: dict[str, Any] = config["servers" if client == "vscode" else "mcpServers"]
    assert list(servers) == ["pivot"]
    return dict(servers["pivot"])


def test_printed_stdio_configs_spawn_pivot_mcp_from_anywhere(
    stack: Stack, open_saga: str, tmp_path: Path, desktop_path: None
) -> None:
    env = user_env(PIVOT_INGRESS_URL=stack.ingress_url, PIVOT_ADMIN_URL=stack.admin_url)
    servers = {client: the_server(client, mcp_config("--client", client, env=env, cwd=tmp_path)) for client in CLIENTS}
    spawned = {(s["command"], tuple(s["args"]), json.dumps(s["env"], sort_keys=True)) for s in servers.values()}
    assert len(spawned) == 1  # one command for every client, only the wrapping differs
    assert servers["vscode"]["type"] == servers["generic"]["type"] == "stdio"
    server = servers["claude"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).exists()
    assert server["env"] == {"PIVOT_INGRESS_URL": stack.ingress_url, "PIVOT_ADMIN_URL": stack.admin_url}

    elsewhere = tmp_path / "a-desktop-clients-folder"
    elsewhere.mkdir()
    with configured_tools(server, tmp_path / "server.log", cwd=elsewhere) as tools:
        assert {"saga_status", "saga_commit", "saga_abort"} <= {tool.name for tool in tools.list_tools()}
        status = tools.call("saga_status", {"saga": open_saga})
        assert not status.is_error and status.structured_content is not None
        assert status.structured_content["status"] == "open"  # the ingress the config names


def test_the_example_stdio_config_works_as_written_in_the_project(tmp_path: Path, desktop_path: None) -> None:
    """examples/mcp.json is for clients that start servers in the project folder (Claude Code's
    `.mcp.json`): its command is the virtualenv's `pivot`, relative to that folder."""
    server = json.loads((PROJECT_ROOT / "examples" / "mcp.json").read_text())["mcpServers"]["pivot"]
    assert "/" in server["command"] and (PROJECT_ROOT / server["command"]).exists()
    with configured_tools(server, tmp_path / "server.log", cwd=PROJECT_ROOT) as tools:
        assert "saga_status" in {tool.name for tool in tools.list_tools()}


@pytest.mark.parametrize("client", CLIENTS)
def test_printed_http_config_reaches_the_server_with_its_token(stack: Stack, tmp_path: Path, client: str) -> None:
    with http_server(stack.ingress_url, tmp_path, token=TOKEN) as url:
        config = mcp_config("--transport", "http", "--client", client, "--url", url,
                            env=user_env(PIVOT_MCP_TOKEN=TOKEN), cwd=tmp_path)
        server = the_server(client, config)
        assert server["url"] == url and server.get("type", "http") == "http"
        header = server["headers"]["Authorization"]
        assert TOKEN not in json.dumps(config)  # a reference the client fills, never the token itself
        reference = {"claude": "${PIVOT_MCP_TOKEN}", "generic": "${PIVOT_MCP_TOKEN}",
                     "cursor": "${env:PIVOT_MCP_TOKEN}", "vscode": "${input:pivot-mcp-token}"}[client]
        assert header == f"Bearer {reference}"
        if client == "vscode":
            assert config["inputs"] == [{"type": "promptString", "id": "pivot-mcp-token", "password": True,
                                         "description": config["inputs"][0]["description"]}]
        with http_tools(url, header.removeprefix("Bearer ").replace(reference, TOKEN)) as tools:
            assert "saga_status" in {tool.name for tool in tools.list_tools()}


def test_the_example_http_config_names_what_pivot_mcp_serves() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers(dest="command"), None)
    http = json.loads((PROJECT_ROOT / "examples" / "mcp-http.json").read_text())["mcpServers"]["pivot"]
    served = parser.parse_args(["mcp", "--transport", "http"])
    assert http == {"type": "http", "url": f"http://{served.bind}/mcp",
                    "headers": {"Authorization": "Bearer ${PIVOT_MCP_TOKEN}"}}
    printed = mcp_config("--transport", "http", "--client", "claude",
                         env=user_env(PIVOT_MCP_TOKEN=TOKEN, PIVOT_STATE_DIR="/nonexistent"), cwd=PROJECT_ROOT)
    assert printed["mcpServers"]["pivot"] == http  # the example is what the command prints for the default stack
