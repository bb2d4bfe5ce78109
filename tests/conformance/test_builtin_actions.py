"""`pivot conformance` against the sandboxes: every built-in action passes every case, or skips it
with a stated reason (the kind has no undo; the action offers no `tamper`). Run as CI runs it: the CLI
as a subprocess, one stack, `--json`.

The suite runs one action per provider, chosen so that every kind and every kind of key carrier is
judged (about 20 s); `PIVOT_CONFORMANCE_ALL=1` runs `--all`, every built-in action (about 130 s on two
cores), and `.ci/run` runs it so on every CI run, after the suite."""

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from pivot.services.catalog import build_catalog
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.plugins import BUILT_IN

NO_UNDO = {"retryable": "a retryable action has no undo", "noncompensable": "a noncompensable action has no undo"}
NO_TAMPER = "the action offers no tamper(): a third party's change cannot be staged"
EVERY_ACTION = os.environ.get("PIVOT_CONFORMANCE_ALL") == "1"
ONE_PER_PROVIDER = [
    "stripe.create_invoice",        # compensable; the Idempotency-Key header and metadata carry the key
    "hubspot.update_properties",    # compensable; a before-image stamp, undone only where it still holds
    "salesforce.upsert_record",     # retryable: an external id makes it idempotent, no undo
    "slack.post_message",           # noncompensable: deferred to commit
    "resend.send_email",            # noncompensable; the Idempotency-Key header, its replay is the lookup
]


@pytest.mark.timeout(900)  # every action, in CI's long tier (about 130 s)
def test_every_built_in_action_passes_conformance() -> None:
    catalog = build_catalog()
    built_in = sorted(name for name in catalog if catalog.sources.get(name, BUILT_IN) == BUILT_IN)
    if not EVERY_ACTION:
        assert set(ONE_PER_PROVIDER) <= set(built_in)
        built_in = ONE_PER_PROVIDER
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIVOT_", "RESTATE_"))}
    chosen = ["--all"] if EVERY_ACTION else built_in
    done = subprocess.run([sys.executable, "-m", "pivot.services.cli", "conformance", *chosen, "--json"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    report: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    actions = {action["action"]: action for action in report.get("actions", [])}
    assert set(built_in) <= set(actions), done.stderr[-3000:]
    problems = {name: action["note"] or [(c["case"], c["summary"], c["evidence"]) for c in action["cases"]
                                         if c["verdict"] == "fail"]
                for name, action in actions.items()
                if not action["judgeable"] or any(c["verdict"] == "fail" for c in action["cases"])}
    assert problems == {}, json.dumps(problems, indent=1)[:8000]
    assert done.returncode == 0, done.stderr[-3000:]

    for name in built_in:
        if name.startswith("postgres."):
            continue  # a database's cases are staged on its connection: tests/conformance/test_postgres_conformance.py
        action = actions[name]
        cases = {case["case"]: case for case in action["cases"]}
        assert sorted(cases) == list(range(1, 10)), name
        skipped = {n: case["summary"] for n, case in cases.items() if case["verdict"] == "skip"}
        if action["kind"] == "compensable":
            assert set(skipped.values()) <= {NO_TAMPER}, (name, skipped)
        else:
            assert skipped == {6: NO_UNDO[action["kind"]], 7: NO_UNDO[action["kind"]]}, (name, skipped)
        # Faults were really staged between the service and the sandbox:
        assert any("(drop, forwarded)" in line for line in cases[2]["evidence"]), (name, cases[2]["evidence"])
        assert any("429 (answer, not forwarded)" in line for line in cases[4]["evidence"]), name
        assert any("killed (SIGKILL)" in line for line in cases[5]["evidence"]), name
