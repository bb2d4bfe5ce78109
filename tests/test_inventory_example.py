"""The guide's example package (examples/inventory): it installs, Pivot finds its action through the
entry point, and the action keeps the kit's promises against its real API (a server on loopback)."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.kit import CompensationConflict, Endpoint, ProviderRejected, StepKeys
from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "examples" / "inventory"
TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as `pip install` lays it out (built from its pyproject), in a folder of its own."""
    target = tmp_path_factory.mktemp("inventory")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(target), str(PACKAGE)], check=True, timeout=300, capture_output=True)
    return target


@pytest.fixture(scope="module")
def api(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess("inventory-api", [sys.executable, "-m", "pivot_inventory.api", "--bind",
                                               f"127.0.0.1:{port}"],
                             env={**os.environ, "PYTHONPATH": str(installed), "INVENTORY_TOKEN": TOKEN},
                             cwd=PROJECT_ROOT, log_path=tmp_path_factory.mktemp("logs") / "inventory.log")
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/v1/stock/X", timeout=1).status_code == 401, timeout_s=30,
                   what="the inventory API")
        yield url
    finally:
        process.stop()


def test_pivot_finds_the_installed_action_through_its_entry_point(installed: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pivot.services.cli", "actions", "--json"], capture_output=True,
                          text=True, timeout=120, cwd=PROJECT_ROOT,
                          env={**{k: v for k, v in os.environ.items() if k != "PIVOT_CATALOG_PLUGINS"},
                               "PYTHONPATH": str(installed)})
    assert done.returncode == 0, done.stderr
    action = next(a for a in json.loads(done.stdout) if a["name"] == "inventory.reserve_stock")
    assert action["source"] == "pivot-inventory 0.1.0 (entry point inventory = pivot_inventory.actions:actions)"
    assert action["kind"] == "compensable" and "Idempotency-Key" in action["key_carrier"]


def _reserve_stock(installed: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.setenv("INVENTORY_TOKEN", TOKEN)  # read per request, as a real credential is
    from pivot_inventory.actions import InventoryClient, ReserveStock  # type: ignore[import-not-found]

    return ReserveStock(InventoryClient(Endpoint("inventory", url, "INVENTORY_TOKEN", label="Inventory")))


def test_the_action_keeps_the_kits_promises_against_its_api(
    installed: Path, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = _reserve_stock(installed, api, monkeypatch)

    async def scenario() -> None:
        params = await action.example()
        keys = StepKeys.derive("run-inventory", "hold", action.name)
        result = await action.forward(params, keys)
        again = await action.forward(params, keys)  # an attempt after a lost answer: found, not written twice
        assert again == result and result["status"] == "held"
        assert len(await action.find_all(params, keys.forward)) == 1
        assert (await action.compensate(params, keys, result)).state == "compensated"
        assert (await action.compensate(params, keys, result)).detail.endswith("already undone")  # once

        shipped = StepKeys.derive("run-inventory", "shipped", action.name)
        result = await action.forward(params, shipped)
        await action.tamper(params, await action.lookup(params, shipped.forward))
        with pytest.raises(CompensationConflict):
            await action.compensate(params, shipped, result)  # shipped meanwhile: never "released"

        greedy = params.model_copy(update={"quantity": 1000})
        with pytest.raises(ProviderRejected) as refused:
            await action.forward(greedy, StepKeys.derive("run-inventory", "greedy", action.name))
        assert refused.value.info.code == "insufficient_stock"

    asyncio.run(scenario())


def test_the_example_passes_pivot_conformance(installed: Path, api: str) -> None:
    """The guide's promise: the package, installed, passes every case of `pivot conformance`."""
    env = {**{k: v for k, v in os.environ.items() if k != "PIVOT_CATALOG_PLUGINS"}, "PYTHONPATH": str(installed),
           "PIVOT_INVENTORY_BASE_URL": api, "INVENTORY_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "pivot.services.cli", "conformance", "inventory.reserve_stock",
                           "--json"], capture_output=True, text=True, timeout=240, cwd=PROJECT_ROOT, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    [report] = json.loads(done.stdout)["actions"]
    assert [(case["case"], case["verdict"]) for case in report["cases"]] == [(n, "pass") for n in range(1, 10)]
    assert TOKEN not in done.stdout
