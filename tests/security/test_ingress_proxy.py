"""The shipped nginx config in front of the test stack's real restate-server ingress: callers need
the bearer token, and neither the token nor any other credential or internal header gets past the
proxy into Restate's journal, state or logs; no CORS grant leaves it.

nginx is Debian's package (scripts/test.sh installs it). Missing here and impossible to install,
the tests skip with a loud reason; in CI (`CI` set) that is a failure instead."""

import json
import os
import re
import secrets
import shlex
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from mcp_types import TextContent

from pivot.compensations.plan import MAX_PLAN_BYTES
from pivot.services.client import PivotClient
from pivot.services.ingress_token import INGRESS_TOKEN_ENV
from pivot.services.local import ingress_proxy
from pivot.services.local.demo import flagship_plan
from pivot.services.local.ingress_proxy import IngressProxy, ProxySettings, find_nginx
from pivot.services.local.processes import free_port
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.mcp_process import stdio_session
from tests.restate_scan import admin_query, bytes_inside, stored
from tests.tls import self_signed

TOKEN = secrets.token_urlsafe(32)
OLD_TOKEN = f"-._~+/{secrets.token_urlsafe(32)}=="
"""A second accepted token, as during a rotation; with every character a b64token may hold."""
COOKIE = f"session-{secrets.token_hex(16)}"
PROXY_BASIC = f"proxy-{secrets.token_hex(16)}"
EVIL = "http://evil.example"


def nginx() -> str:
    """Debian's nginx: found, else installed the way scripts/test.sh does, else a loud skip."""
    found = find_nginx()
    if found is None:
        installed = subprocess.run([str(PROJECT_ROOT / "scripts" / "apt-install.sh"), "nginx"], capture_output=True,
                                   text=True, timeout=900, stdin=subprocess.DEVNULL)
        found = find_nginx()
        if found is None:
            message = ("NGINX IS MISSING AND COULD NOT BE INSTALLED (" + installed.stderr.strip()[-300:] + "): "
                       "THE INGRESS PROXY IS UNTESTED. Install Debian's nginx, or run scripts/test.sh as root.")
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def proxy(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngressProxy]:
    settings = ProxySettings(listen=f"127.0.0.1:{free_port()}", upstream=f"127.0.0.1:{stack.ports.ingress}",
                             tokens=(TOKEN, OLD_TOKEN), state_dir=tmp_path_factory.mktemp("ingress-proxy"))
    with IngressProxy(settings, nginx()) as running:
        yield running


def bearer(token: str = TOKEN, scheme: str = "Bearer") -> dict[str, str]:
    return {"authorization": f"{scheme} {token}"}


def status(proxy: IngressProxy, run_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{proxy.url}/SagaRun/{run_id}/status", json=None, headers=headers, timeout=30)


def invocations_of(stack: Stack, key: str) -> list[dict[str, Any]]:
    return admin_query(stack.admin_url, f"SELECT id, target FROM sys_invocation WHERE target_service_key = '{key}'")


def test_without_the_token_nothing_reaches_restate(proxy: IngressProxy, stack: Stack) -> None:
    run_id = f"proxy-refused-{uuid.uuid4().hex[:8]}"
    refusals = [{}, bearer(TOKEN + "x"), bearer(TOKEN.swapcase()), bearer(TOKEN[:-1]), bearer(TOKEN, "Basic"),
                {"authorization": TOKEN}, {"authorization": f"Bearer{TOKEN}"}, {"cookie": f"token={TOKEN}"},
                {"x-pivot-token": TOKEN}]
    for headers in refusals:
        refused = status(proxy, run_id, headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].lower().startswith("bearer")
        assert refused.json()["error"]["code"] == "unauthorized" and TOKEN not in refused.text
    # Awakeables are capabilities: resolving one through the proxy needs the token too.
    resolve = httpx.post(f"{proxy.url}/restate/awakeables/sign_1{uuid.uuid4().hex}/resolve", json=True, timeout=30)
    assert resolve.status_code == 401
    assert invocations_of(stack, run_id) == []


def test_the_scheme_in_any_case_and_each_token_of_a_rotation(proxy: IngressProxy) -> None:
    run_id = f"proxy-scheme-{uuid.uuid4().hex[:8]}"
    for headers in (bearer(), bearer(scheme="bearer"), bearer(scheme="BEARER"), bearer(OLD_TOKEN)):
        answer = status(proxy, run_id, headers)
        assert answer.status_code == 200, (headers, answer.text)
        assert answer.json()["status"] == "not_found"
    # The token's punctuation is matched literally, not as a pattern.
    assert status(proxy, run_id, bearer(OLD_TOKEN.replace(".", "x", 1))).status_code == 401
    assert status(proxy, run_id, bearer(OLD_TOKEN.replace("+", "", 1))).status_code == 401


def test_with_the_token_a_saga_commits_and_no_credential_is_stored(
    proxy: IngressProxy, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv(INGRESS_TOKEN_ENV, TOKEN)
    with PivotClient(proxy.url, admin_url=stack.admin_url, timeout_s=120) as client:  # as the CLI and MCP do
        outcome = client.run(f"proxy-ok-{tag}", flagship_plan(f"proxy+{tag}@example.com"))
    assert outcome["status"] == "committed", outcome

    # The claim an open saga makes on its run id, forged from outside, with cookies: all stripped,
    # so the plan runs as any plan does (with the claim, the handler would answer "open saga").
    forged_run = f"proxy-forged-{tag}"
    forged = httpx.post(f"{proxy.url}/SagaRun/{forged_run}/run", json=flagship_plan(f"forged+{tag}@example.com"),
                        headers={**bearer(), "x-pivot-claim": "open", "x-pivot-anything": "forged",
                                 "cookie": COOKIE, "proxy-authorization": f"Basic {PROXY_BASIC}",
                                 "user-agent": f"pivot-proxy-test-{tag}"}, timeout=120)
    assert forged.status_code == 200 and forged.json()["status"] == "committed", forged.text

    # The request as Restate recorded it: the allowed headers are there, the rest is not.
    [run] = [row for row in invocations_of(stack, forged_run) if str(row["target"]).endswith("/run")]
    entries = admin_query(stack.admin_url, f"SELECT entry_json FROM sys_journal WHERE id = '{run['id']}'")
    recorded = "\n".join(str(e["entry_json"]) + bytes_inside(json.loads(str(e["entry_json"]))) for e in entries)
    recorded = recorded.lower()
    assert f"pivot-proxy-test-{tag}" in recorded  # headers are journaled: their absence below means something
    for stripped in ("x-pivot-claim", "x-pivot-anything", "authorization", "cookie", COOKIE, PROXY_BASIC):
        assert stripped.lower() not in recorded, stripped

    found = stored(stack)
    assert any(f"proxy-ok-{tag}" in text for text in found.decoded)  # the scan saw the proxied runs
    logs = [path.read_text(errors="replace") for path in (proxy.settings.state_dir / "logs").iterdir()]
    assert f"/SagaRun/proxy-ok-{tag}/run" in "".join(logs)  # the proxy logged the calls...
    credentials = [TOKEN, OLD_TOKEN, COOKIE, PROXY_BASIC]
    assert found.containing(credentials) == []
    assert [secret for secret in credentials if secret in "".join(logs)] == []  # ...not them


def test_the_cli_and_pivot_mcp_send_the_token_from_the_environment(
    proxy: IngressProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = f"proxy-clients-{uuid.uuid4().hex[:8]}"
    cli = [str(Path(sys.executable).parent / "pivot"), "status", run_id, "--json", "--ingress", proxy.url]
    env = {k: v for k, v in os.environ.items() if k != INGRESS_TOKEN_ENV}
    assert subprocess.run(cli, env=env, capture_output=True, timeout=60).returncode != 0  # 401 without it
    shown = subprocess.run(cli, env={**env, INGRESS_TOKEN_ENV: TOKEN}, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "not_found", shown.stderr

    monkeypatch.setenv(INGRESS_TOKEN_ENV, TOKEN)

    async def saga_status() -> str:
        async with stdio_session(proxy.url, tmp_path / "mcp.log") as session:
            answer = await session.call_tool("saga_status", {"saga": run_id})
        return "\n".join(block.text for block in answer.content if isinstance(block, TextContent))

    assert f"No saga named '{run_id}'" in anyio.run(saga_status)  # Restate answered: the proxy let it through


def test_no_cors_grant_leaves_the_proxy(proxy: IngressProxy, stack: Stack) -> None:
    preflight = {"origin": EVIL, "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    path = f"/SagaRun/proxy-cors-{uuid.uuid4().hex[:8]}/status"
    # Restate's own ingress grants it (the reason for all this)...
    assert "access-control-allow-origin" in httpx.options(f"{stack.ingress_url}{path}", headers=preflight).headers
    # ...the proxy does not, to a preflight or to an authenticated call carrying an Origin.
    refused = httpx.options(f"{proxy.url}{path}", headers=preflight)
    called = httpx.post(f"{proxy.url}{path}", json=None, headers={**bearer(), "origin": EVIL})
    for answer in (refused, called):
        assert not [name for name in answer.headers if name.lower().startswith("access-control-")], answer.headers
    assert refused.status_code == 403


def test_only_the_ingress_is_reachable_and_bodies_are_bounded(proxy: IngressProxy) -> None:
    assert httpx.get(f"{proxy.url}/restate/health").status_code == 200  # for load balancers, no token
    admin_paths = httpx.get(f"{proxy.url}/deployments", headers=bearer())  # the admin API is not behind it
    assert admin_paths.status_code in {400, 404} and "uri" not in admin_paths.text, admin_paths.text
    huge = b'{"steps": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_big = httpx.post(f"{proxy.url}/SagaRun/proxy-huge/run", content=huge, timeout=30,
                         headers={**bearer(), "content-type": "application/json"})
    assert too_big.status_code == 413
    # Every plan the service accepts fits; beyond it the service still names the limit it breaks.
    assert ingress_proxy.MAX_BODY == "1m" and 4 * MAX_PLAN_BYTES <= 1024 * 1024


def test_tls_at_the_proxy(stack: Stack, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    settings = ProxySettings(listen=f"127.0.0.1:{free_port()}", upstream=f"127.0.0.1:{stack.ports.ingress}",
                             tokens=(TOKEN,), state_dir=tmp_path / "proxy", tls_cert=cert, tls_key=key)
    with IngressProxy(settings, nginx()) as tls:
        assert tls.url.startswith("https://")
        with httpx.Client(verify=ssl.create_default_context(cafile=cert), timeout=30) as client:
            assert client.post(f"{tls.url}/SagaRun/proxy-tls/status", json=None).status_code == 401
            answer = client.post(f"{tls.url}/SagaRun/proxy-tls/status", json=None, headers=bearer())
            assert answer.status_code == 200 and answer.json()["status"] == "not_found"


def test_docker_compose_renders_the_same_config_for_the_restate_it_runs(tmp_path: Path) -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    render, nginx_service = services["ingress-proxy-config"], services["ingress-proxy"]
    argv = shlex.split(render["command"])
    assert argv[:3] == ["python", "-m", "pivot.services.local.ingress_proxy"]
    args = ingress_proxy.parser().parse_args(argv[3:])
    assert args.command == "render" and args.upstream == "restate:8080"  # Restate's ingress, never :9070
    assert nginx_service["command"][:3] == ["nginx", "-c", str(args.out)]
    assert nginx_service["ports"] == [f"{args.listen.rpartition(':')[2]}:{args.listen.rpartition(':')[2]}"]
    assert set(render["environment"]) >= {INGRESS_TOKEN_ENV, ingress_proxy.INGRESS_TOKENS_ENV}
    assert render["profiles"] == nginx_service["profiles"] == ["proxy"]
    # Restate's own ports are the host's loopback only.
    assert all(str(port).startswith("127.0.0.1:") for port in services["restate"]["ports"])

    # The same command, on a bare Python (no site-packages, as in the compose image), renders a
    # config nginx accepts. (nginx resolves the upstream's name when it loads: here there is no
    # `restate` host, so only that and the paths differ.)
    out, state = tmp_path / "conf" / "nginx.conf", tmp_path / "state"
    argv = [*argv[3:]]
    for option, value in {"--out": out, "--state-dir": state, "--upstream": "127.0.0.1:8080"}.items():
        argv[argv.index(option) + 1] = str(value)
    env = {"PYTHONPATH": str(PROJECT_ROOT), INGRESS_TOKEN_ENV: TOKEN, "PATH": os.environ["PATH"]}
    subprocess.run([sys.executable, "-S", "-m", "pivot.services.local.ingress_proxy", *argv], env=env, check=True,
                   cwd=tmp_path, timeout=60)
    assert out.stat().st_mode & 0o077 == 0  # it holds the token: its owner's only
    state.mkdir()
    checked = subprocess.run([nginx(), "-t", "-p", str(state), "-c", str(out), "-e", "stderr"],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"listen 0\.0\.0\.0:8081;", out.read_text())
