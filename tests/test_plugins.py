"""Actions from installed packages (`pivot.actions` entry points) and `PIVOT_CATALOG_PLUGINS`: found
at start, shown with where they come from, and a broken or clashing plugin is a start-up error that
names it — never a quietly smaller catalog."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pivot.services.local.restate_binary import PROJECT_ROOT

PLUGIN = '''
from typing import ClassVar
from pydantic import BaseModel
from pivot.kit import JsonDict, KeyCarrier, KeyedAction, StepKind


class Ping(BaseModel):
    text: str


class Echo(KeyedAction[Ping, dict]):
    name: ClassVar[str] = "{name}"
    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE
    params = Ping
    carrier: ClassVar[KeyCarrier] = KeyCarrier.header("Idempotency-Key")
    readback: ClassVar[str] = "nothing"
    not_run: ClassVar[str] = "Nothing was echoed."

    async def lookup(self, params: Ping, key: str) -> dict | None:
        return None

    async def write(self, params: Ping, key: str) -> dict:
        return {{"text": params.text}}

    def verify(self, params: Ping, fresh: dict) -> JsonDict:
        return {{"ref": "echo:1", **fresh}}

    def describe(self, result: JsonDict) -> str:
        return "echoed"


def actions():
    return {returns}
'''


def _package(root: Path, name: str = "echo.ping", returns: str = "[Echo()]", group: str = "pivot.actions") -> Path:
    """A package installed into `root` the way pip lays one out: the module and its dist-info with
    the entry point."""
    (root / "pivot_echo").mkdir(parents=True)
    (root / "pivot_echo" / "__init__.py").write_text(PLUGIN.format(name=name, returns=returns))
    info = root / "pivot_echo-0.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pivot-echo\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\necho = pivot_echo:actions\n")
    return root


def _pivot(*args: str, path: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "PIVOT_CATALOG_PLUGINS"} | (env or {})
    if path is not None:
        environment["PYTHONPATH"] = str(path)
    return subprocess.run([sys.executable, "-m", "pivot.services.cli", *args], capture_output=True, text=True,
                          timeout=120, env=environment, cwd=PROJECT_ROOT)


def _actions(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr + done.stdout
    return {a["name"]: a for a in json.loads(done.stdout)}


def test_an_installed_package_adds_its_actions_and_says_so(tmp_path: Path) -> None:
    listed = _actions(_pivot("actions", "--json", path=_package(tmp_path)))
    assert listed["echo.ping"]["source"] == "pivot-echo 0.3.1 (entry point echo = pivot_echo:actions)"
    assert listed["echo.ping"]["kind"] == "noncompensable"
    assert listed["stripe.create_invoice"]["source"] == "built-in"
    shown = _pivot("actions", path=tmp_path)
    assert shown.returncode == 0 and "pivot-echo" in shown.stdout  # the table folds long cells


def test_the_environment_adds_actions_too(tmp_path: Path) -> None:
    _package(tmp_path, group="not.pivot")  # installed, but not for Pivot: only the variable adds it
    listed = _actions(_pivot("actions", "--json", path=tmp_path, env={"PIVOT_CATALOG_PLUGINS": "pivot_echo:actions"}))
    assert listed["echo.ping"]["source"] == "PIVOT_CATALOG_PLUGINS pivot_echo:actions"


@pytest.mark.parametrize(("name", "returns", "says"), [
    ("stripe.charge", "[Echo()]", "action stripe.charge comes from two places: built-in and pivot-echo 0.3.1"),
    ("echo.ping", "['echo.ping']", "pivot-echo 0.3.1 (entry point echo = pivot_echo:actions) returned str"),
    ("echo.ping", "1 / 0", "pivot-echo 0.3.1 (entry point echo = pivot_echo:actions) failed while making its "
                           "actions: ZeroDivisionError"),
])
def test_a_plugin_that_cannot_join_is_named_at_start(tmp_path: Path, name: str, returns: str, says: str) -> None:
    _package(tmp_path, name=name, returns=returns)
    listed = _pivot("actions", path=tmp_path)
    assert listed.returncode == 2 and says in " ".join(listed.stdout.split()), listed.stdout
    service = subprocess.run([sys.executable, "-m", "pivot.services.serve", "--bind", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
                             env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert service.returncode != 0 and says in service.stderr and "Traceback" not in service.stderr


def test_a_misspelt_plugin_variable_is_named(tmp_path: Path) -> None:
    done = _pivot("actions", env={"PIVOT_CATALOG_PLUGINS": "pivot_echo"})
    assert done.returncode == 2 and "PIVOT_CATALOG_PLUGINS pivot_echo: write it as module:function" in done.stdout
