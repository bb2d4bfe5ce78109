"""What a user installs: one top-level name, `pivot`, that works beside a project of their own.

The wheel is built from the repository as a user's `pip install` builds it, installed into a fresh
environment, and used from a project that has its own `services` and `providers` packages — the
names that Pivot's repository uses for its folders and that a wheel used to put into every user's
environment. The library-mode example, copied into that project and served by the installed wheel,
runs a saga on the test stack.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.served_apps import served_app

USERS_OWN = {"services": "the user's own services package", "providers": "the user's own providers package"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(out), str(PROJECT_ROOT)], check=True, timeout=600, capture_output=True)
    return next(out.glob("pivot-*.whl"))


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"pivot", "pivot-0.1.0.dist-info"}
    assert {"pivot/__init__.py", "pivot/kit.py", "pivot/agents.py", "pivot/services/local/approval_page.js",
            "pivot/services/local/ingress_proxy.nginx.conf"} <= set(names)
    assert not any(name.startswith(("pivot/examples", "pivot/bench", "pivot/tests")) for name in names)


@pytest.fixture(scope="module")
def project(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A fresh environment with the wheel installed, and a user's project beside it: (its python,
    the project folder). Pivot's dependencies come from the test environment's site-packages,
    listed after the fresh one (so the same pins, and no second download); Pivot itself only from
    the wheel."""
    base = tmp_path_factory.mktemp("user")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), str(wheel)], check=True, timeout=300, capture_output=True)
    (site / "zz_pivot_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    folder = base / "project"
    for name, text in USERS_OWN.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"WHO = {text!r}\n")
    shutil.copy(PROJECT_ROOT / "examples" / "library_handler.py", folder / "onboarding.py")
    return str(python), folder


def _run(python: str, folder: Path, code: str) -> Any:
    done = subprocess.run([python, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_pivot_and_the_users_own_packages_live_side_by_side(project: tuple[str, Path]) -> None:
    python, folder = project
    seen = _run(python, folder, "import json, pivot, services, providers\n"
                                "from pivot import Saga, PivotClient, build_catalog\n"
                                "from pivot.kit import Action\n"
                                "print(json.dumps({'pivot': pivot.__file__, 'services': services.WHO,\n"
                                "                  'providers': providers.WHO, 'actions': len(build_catalog())}))")
    assert seen["services"] == USERS_OWN["services"] and seen["providers"] == USERS_OWN["providers"]
    assert str(PROJECT_ROOT) not in seen["pivot"] and "site-packages" in seen["pivot"]
    assert seen["actions"] >= 19


def test_the_library_example_runs_from_the_installed_wheel(
    stack: Stack, sandboxes: Sandboxes, project: tuple[str, Path]
) -> None:
    python, folder = project
    email = f"wheel+{uuid.uuid4().hex[:8]}@example.com"
    # The test stack's catalog plugin lives in this repository's tests: a user's project has none.
    with served_app(stack, "onboarding:app", "installed-wheel", python=python, cwd=folder,
                    unset=("PIVOT_CATALOG_PLUGINS",)):
        response = httpx.post(f"{stack.ingress_url}/Onboarding/onboard", timeout=120,
                              json={"email": email, "customer": DEMO_CUSTOMER, "amount": 4200})
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["status"] == "committed", outcome
    assert sandboxes.ops("hubspot", outcome["run_id"], "contact", "hubspot.create_contact") == [("create", "contact")]
    log = (stack.log_dir / "installed-wheel.log").read_text()
    assert str(PROJECT_ROOT / "services") not in log  # nothing was loaded from the repository
