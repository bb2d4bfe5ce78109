"""The CLI finds the local stack by itself: the stack writes where it answers (and the credentials
its sandboxes accept) to its state folder's stack.json, and `pivot status`, `list`, `approvals`,
`doctor`, `setup`, `env`, `pivot mcp` and the examples use it when nothing else is configured,
saying so on stderr. What the user configured wins. With nothing configured and no stack, doctor
says so and fails.

The session's stack is such a stack: its state folder is the test's `PIVOT_STATE_DIR`.
"""

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from pivot.services.catalog import CREDENTIAL_ENV
from pivot.services.cli import main
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.processes import start_ticks
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import LOCAL_CREDENTIALS, Stack
from pivot.services.local.stack_file import FILE_NAME, StackInfo, read_stack_file, write_stack_file
from tests.conftest import APPROVER_TOKENS
from tests.mcp_process import configured_tools
from tests.served_apps import served_app

PROVIDERS = ["stripe", "hubspot", "slack", "salesforce", "shopify", "resend"]


def said_local_stack(stack: Stack, stderr: str) -> bool:
    return f"using the local stack started by `pivot dev` ({stack.stack_file})" in stderr


@pytest.fixture
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell with no Pivot setting and no provider credential (as after the README's install)."""
    for name in list(os.environ):
        if name.startswith("PIVOT_") or name in CREDENTIAL_ENV.values():
            monkeypatch.delenv(name)


@pytest.fixture
def found_stack(stack: Stack, nothing_configured: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """That shell, with the session's stack as the one `pivot dev` runs (its state folder)."""
    monkeypatch.setenv("PIVOT_STATE_DIR", str(stack.state_dir))
    return stack


def test_the_stack_file_says_where_everything_answers(stack: Stack) -> None:
    assert stat.S_IMODE(stack.stack_file.stat().st_mode) == 0o600  # it holds credentials
    info = read_stack_file(stack.stack_file)
    assert info is not None and info.still_running() and info.pid == os.getpid()
    assert (info.ingress, info.admin, info.approvals) == (stack.ingress_url, stack.admin_url, stack.approvals_url)
    assert info.sandboxes == stack.sandbox_urls and info.credentials == LOCAL_CREDENTIALS
    assert (info.processes["restate-server"], info.processes["pivot-service"]) == (stack.restate.pid, stack.service.pid)
    assert info.approvers_file == str(stack.approvers_file) and set(info.approvers) == set(APPROVER_TOKENS)
    assert all(token not in stack.stack_file.read_text() for token in APPROVER_TOKENS.values())


def test_commands_find_the_local_stack_and_say_where_from(
    found_stack: Stack, open_saga: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", open_saga, "--json"]) == 0
    answered = capsys.readouterr()
    assert json.loads(answered.out)["status"] == "open"
    assert said_local_stack(found_stack, answered.err) and answered.err.count("using the local stack") == 1

    assert main(["list", "--json"]) == 0  # the admin API, from the same file
    listed = capsys.readouterr()
    assert open_saga in {saga["run_id"] for saga in json.loads(listed.out)}
    assert said_local_stack(found_stack, listed.err)

    assert main(["status", open_saga, "--json", "--ingress", found_stack.ingress_url]) == 0  # a flag wins
    assert "using the local stack" not in capsys.readouterr().err


def test_configured_addresses_win_over_the_stack(
    found_stack: Stack, open_saga: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """A stack file that points nowhere: the environment's address is used, and the file is not."""
    info = read_stack_file(found_stack.stack_file)
    assert info is not None
    write_stack_file(tmp_path / FILE_NAME, info.model_copy(update={"ingress": "http://127.0.0.1:9"}))
    monkeypatch.setenv("PIVOT_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PIVOT_INGRESS_URL", found_stack.ingress_url)
    assert main(["status", open_saga, "--json"]) == 0
    answered = capsys.readouterr()
    assert json.loads(answered.out)["status"] == "open" and "using the local stack" not in answered.err


def test_doctor_and_setup_check_the_local_stacks_sandboxes(
    found_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--json"]) == 0
    checked = capsys.readouterr()
    report = json.loads(checked.out)
    assert report["ok"] and {c["provider"] for c in report["checks"]} == {*PROVIDERS, "postgres"}
    assert said_local_stack(found_stack, checked.err) and ", ".join([*PROVIDERS, "postgres"]) in checked.err
    assert all(os.environ.get(variable) is None for variable in CREDENTIAL_ENV.values())  # only while it ran

    assert main(["setup", "hubspot", "--dry-run", "--json"]) == 0
    assert not json.loads(capsys.readouterr().out)["errors"]


def test_doctor_with_nothing_configured_says_so_and_fails(
    nothing_configured: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIVOT_STATE_DIR", str(tmp_path))
    assert main(["doctor"]) == 1
    said = capsys.readouterr().out
    assert "nothing to check" in said and "no local stack is running" in said and "pivot dev" in said
    assert "all checks passed" not in said

    # A stack killed with -9 leaves its file behind: the pid in it no longer runs.
    stale = StackInfo(pid=_exited_pid(), ingress="http://127.0.0.1:9", admin="http://127.0.0.1:9",
                      service="", approvals="", sandboxes={"stripe": "http://127.0.0.1:9"},
                      credentials=LOCAL_CREDENTIALS, approvers=[], approvers_file="", logs="", processes={})
    write_stack_file(tmp_path / FILE_NAME, stale)
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["error"]["code"] == "nothing_configured"
    assert f"pid {stale.pid} no longer runs" in report["error"]["message"]


def _exited_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    assert start_ticks(child.pid) is None
    return child.pid


def test_env_prints_export_lines_a_shell_takes(found_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    lines = capsys.readouterr().out
    assert all(token not in lines for token in APPROVER_TOKENS.values())  # a hint where they are, not the tokens
    names = ["PIVOT_INGRESS_URL", "PIVOT_ADMIN_URL", *LOCAL_CREDENTIALS,
             *(f"PIVOT_{p.upper()}_BASE_URL" for p in PROVIDERS), "PIVOT_POSTGRES_DSN"]
    shell = subprocess.run(["bash", "-c", 'eval "$(cat)"; for n in "$@"; do printf "%s=%s\\n" "$n" "${!n}"; done',
                            "bash", *names], input=lines, capture_output=True, text=True, check=True, env={})
    exported = dict(line.split("=", 1) for line in shell.stdout.splitlines())
    assert exported == {"PIVOT_INGRESS_URL": found_stack.ingress_url, "PIVOT_ADMIN_URL": found_stack.admin_url,
                        **LOCAL_CREDENTIALS,
                        **{f"PIVOT_{p.upper()}_BASE_URL": url for p, url in found_stack.sandbox_urls.items()},
                        "PIVOT_POSTGRES_DSN": found_stack.service.env["PIVOT_POSTGRES_DSN"]}


def test_a_users_own_handler_runs_on_what_pivot_env_prints(
    found_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library example served with a shell's environment plus `eval "$(pivot env)"`: nothing else."""
    assert main(["env"]) == 0
    shell = subprocess.run(["bash", "-c", 'eval "$(cat)"; env -0'], input=capsys.readouterr().out,
                           capture_output=True, text=True, check=True, env=dict(os.environ))
    env = dict(line.split("=", 1) for line in shell.stdout.split("\0") if line)
    with served_app(found_stack, "examples.library_handler:app", "library-from-pivot-env", env=env):
        response = httpx.post(f"{env['PIVOT_INGRESS_URL']}/Onboarding/onboard", timeout=120, json={
            "email": f"env+{uuid.uuid4().hex[:8]}@example.com", "customer": DEMO_CUSTOMER, "amount": 4200})
    assert response.status_code == 200 and response.json()["status"] == "committed", response.text


def test_env_without_a_stack_says_so(
    nothing_configured: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIVOT_STATE_DIR", str(tmp_path))
    assert main(["env"]) == 1
    said = capsys.readouterr()
    assert not said.out and "no local stack is running" in said.err and "pivot dev" in said.err


def test_an_approver_named_takes_its_token_from_the_stack(
    found_stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIVOT_APPROVER", "finance")
    assert main(["approvals", "--json"]) == 0
    answered = capsys.readouterr()
    assert isinstance(json.loads(answered.out), list) and said_local_stack(found_stack, answered.err)


def test_the_examples_find_the_local_stack(found_stack: Stack) -> None:
    env = {**os.environ, "PIVOT_STATE_DIR": str(found_stack.state_dir)}
    done = subprocess.run([sys.executable, "-m", "examples.flagship_agent", "--email",
                           f"found+{uuid.uuid4().hex[:8]}@example.com"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.startswith("[committed]"), done.stdout + done.stderr
    assert said_local_stack(found_stack, done.stderr)


def test_pivot_mcp_finds_the_local_stack(found_stack: Stack, open_saga: str, tmp_path: Path) -> None:
    server = {"command": str(Path(sys.executable).parent / "pivot"), "args": ["mcp"],
              "env": {"PIVOT_STATE_DIR": str(found_stack.state_dir)}}
    with configured_tools(server, tmp_path / "server.log", cwd=tmp_path) as tools:
        status = tools.call("saga_status", {"saga": open_saga})
        assert not status.is_error and status.structured_content is not None
        assert status.structured_content["status"] == "open"
    assert said_local_stack(found_stack, (tmp_path / "server.log").read_text())


@pytest.mark.parametrize("keep", [True, False])
def test_pivot_dev_starts_restate_empty_unless_told_to_keep(keep: bool, tmp_path: Path) -> None:
    """The sandboxes start empty on every start; Restate's data does too, unless `--keep`."""
    yesterday = tmp_path / "state" / "data" / "yesterday"
    yesterday.parent.mkdir(parents=True)
    yesterday.write_text("a saga of yesterday")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")},
           "PIVOT_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([str(Path(sys.executable).parent / "pivot"), "dev", "--once", "--ports", "free",
                           *(["--keep"] if keep else [])], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert yesterday.exists() is keep
    assert ("kept from the last start" if keep else "started empty") in done.stdout
