"""`pivot conformance --connection NAME`: the named connection's account is the target (its base URL
from the connections file, proxied for the service; its own credential), not the default one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pivot.services.local.restate_binary import PROJECT_ROOT
from tests.sandbox.process import running_sandbox

LONG_TIER = os.environ.get("PIVOT_LONG_TIER") == "1"
pytestmark = pytest.mark.skipif(not LONG_TIER, reason="CI's long tier (.ci/run, PIVOT_LONG_TIER=1) runs it")


EU_KEY = "sk_test_pivot_conformance_eu_5c1e"


def test_a_named_connection_is_proxied_and_judged_on_its_own_account(tmp_path: Path) -> None:
    with running_sandbox("stripe", credentials=[EU_KEY]) as eu:
        connections = tmp_path / "connections.toml"
        connections.write_text(f'[stripe.eu]\nbase_url = "{eu.url}"\ncredential = "{EU_KEY}"\n')
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PIVOT_", "RESTATE_"))},
               "PIVOT_CONNECTIONS_FILE": str(connections)}
        done = subprocess.run([sys.executable, "-m", "pivot.services.cli", "conformance", "stripe.create_customer",
                               "--connection", "eu", "--json"],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
        [report] = json.loads(done.stdout)["actions"]
        effects = httpx.get(f"{eu.url}/_sandbox/ledger", timeout=10).json()["effects"]

    assert report["target"] == f"{eu.url} (a real API, connection 'eu')"
    assert {case["verdict"] for case in report["cases"]} == {"pass", "skip"}
    # The service's writes reached the eu account through the proxy: one customer for each case that
    # writes (1-6 and 8; 7 needs a tamper() this action does not offer), none twice.
    assert sum(e["op"] == "create" and e["object"] == "customer" for e in effects) == 7
    assert EU_KEY not in done.stdout
