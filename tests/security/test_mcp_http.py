"""`pivot mcp --transport http` beyond loopback: no token, no service (unless the operator says so
out loud); Host and Origin checked against `--allow-host`; the auth scheme matched without regard
to case; the package's version in serverInfo.

Every server here listens on 127.0.0.1 only. The refusal test names a non-loopback address, but
the command refuses before binding anything."""

import importlib.metadata
import ipaddress
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pivot.services.agents.mcp_access import http_access
from pivot.services.local.processes import free_port
from pivot.services.local.restate_binary import PROJECT_ROOT
from tests.mcp_process import ACCEPT, INITIALIZE, SERVER, start_http_server

TOKEN = "mcp-http-security-token-2b7e91"
ALLOWED = "mcp.example.test"


def non_loopback_address() -> str:
    """One of this machine's own IPv4 addresses that is not loopback (what an operator would bind
    to be reached from a network), or 0.0.0.0 if it has none."""
    trie = Path("/proc/net/fib_trie")
    found = re.findall(r"\|-- (\d+\.\d+\.\d+\.\d+)\n\s+/32 host LOCAL", trie.read_text()) if trie.exists() else []
    return next((a for a in found if not ipaddress.ip_address(a).is_loopback), "0.0.0.0")


def run_mcp(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, to completion (a server that starts instead of refusing times out here)."""
    env = {k: v for k, v in os.environ.items() if k != "PIVOT_MCP_TOKEN"}
    env |= {"PIVOT_MCP_TOKEN": token} if token else {}
    return subprocess.run([*SERVER, "--transport", "http", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A token-guarded server on loopback that also answers to ALLOWED (as behind a proxy). Nothing
    here calls a tool, so its ingress may be a port where nothing listens."""
    proc, url = start_http_server(f"http://127.0.0.1:{free_port()}", tmp_path_factory.mktemp("mcp-guarded"),
                                  "--allow-host", ALLOWED, token=TOKEN)
    try:
        yield url
    finally:
        proc.stop()


def initialize(url: str, **headers: str) -> httpx.Response:
    return httpx.post(url, json=INITIALIZE, headers={**ACCEPT, **headers}, timeout=30)


def test_beyond_loopback_it_refuses_to_start_without_a_token() -> None:
    bind = f"{non_loopback_address()}:{free_port()}"
    refused = run_mcp("--bind", bind)
    assert refused.returncode == 2, refused.stderr
    assert "is not a loopback address: set PIVOT_MCP_TOKEN" in refused.stderr
    assert "--insecure-no-token" in refused.stderr and "serving" not in refused.stderr
    # Every address, with a token but no host name to check Host/Origin against: refused too.
    unnamed = run_mcp("--bind", f"0.0.0.0:{free_port()}", token=TOKEN)
    assert unnamed.returncode == 2 and "--allow-host" in unnamed.stderr and "serving" not in unnamed.stderr


def test_insecure_no_token_is_the_only_way_around_and_warns() -> None:
    with pytest.raises(ValueError, match="PIVOT_MCP_TOKEN"):
        http_access("10.1.2.3", 9096, None)
    access = http_access("10.1.2.3", 9096, None, insecure_no_token=True)
    assert access.token is None and access.warning is not None and "WITHOUT A TOKEN" in access.warning
    assert access.allowed_hosts == ("10.1.2.3:9096",)  # still checked: the address it was bound to
    assert http_access("127.0.0.1", 9096, None).warning is None  # loopback: no token needed
    with pytest.raises(ValueError, match="not a URL"):
        http_access("10.1.2.3", 9096, TOKEN, ("https://mcp.example.test/mcp",))


def test_the_auth_scheme_is_matched_without_regard_to_case(guarded: str) -> None:
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        assert initialize(guarded, authorization=f"{scheme} {TOKEN}").status_code == 200, scheme
    for wrong in (f"Bearer {TOKEN.upper()}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", ""):
        refused = initialize(guarded, authorization=wrong)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", wrong


def test_host_and_origin_are_checked_against_allow_host(guarded: str) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert initialize(guarded, host=ALLOWED, **auth).status_code == 200
    assert initialize(guarded, host=f"{ALLOWED}:8443", origin=f"https://{ALLOWED}:8443", **auth).status_code == 200
    assert initialize(guarded, host="evil.example", **auth).status_code == 421
    assert initialize(guarded, host=f"{ALLOWED}.evil.example", **auth).status_code == 421
    assert initialize(guarded, host=ALLOWED, origin="https://evil.example", **auth).status_code == 403
    assert initialize(guarded, origin="http://localhost:3000", **auth).status_code == 200  # loopback stays allowed
    assert initialize(guarded, host="evil.example").status_code == 401  # the token first: nothing else is told


def test_server_info_carries_the_package_version(guarded: str) -> None:
    answer = initialize(guarded, authorization=f"Bearer {TOKEN}")
    assert answer.status_code == 200, answer.text
    version = answer.json()["result"]["serverInfo"]["version"]
    assert version and version == importlib.metadata.version("pivot")
