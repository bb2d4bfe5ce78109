"""`pivot conformance` for the postgres.* actions, as CI runs it (the CLI as a subprocess, `--json`),
against the run's own PostgreSQL: its faults staged by the TCP fault proxy on the database connection
(a COMMIT whose answer is lost, a connection dropped before BEGIN and one refused, the service killed
with a COMMIT's answer held, the undo's COMMIT answer lost, a change before the read-back). Case 4
(Retry-After) is skipped with its reason: a database sends none.

The suite runs insert_record (about 9 s); `PIVOT_CONFORMANCE_ALL=1` runs all three."""

import json
import os
import subprocess
import sys
from typing import Any

from pivot.services.local.restate_binary import PROJECT_ROOT

EVERY_ACTION = os.environ.get("PIVOT_CONFORMANCE_ALL") == "1"
ACTIONS = (["postgres.insert_record", "postgres.update_record", "postgres.delete_record"] if EVERY_ACTION
           else ["postgres.insert_record"])
NO_RETRY_AFTER = ("a database sends no Retry-After: a lock, deadlock or serialization failure is retried with the "
                  "engine's back-off")


def test_the_postgres_actions_pass_conformance() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIVOT_", "RESTATE_"))}
    done = subprocess.run([sys.executable, "-m", "pivot.services.cli", "conformance", *ACTIONS, "--json"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    report: dict[str, Any] = json.loads(done.stdout) if done.stdout.strip() else {}
    actions = {action["action"]: action for action in report.get("actions", [])}
    assert sorted(actions) == sorted(ACTIONS), done.stderr[-3000:]
    for name, action in actions.items():
        cases = {case["case"]: case for case in action["cases"]}
        assert sorted(cases) == list(range(1, 10)), name
        failed = {n: (c["summary"], c["evidence"]) for n, c in cases.items() if c["verdict"] == "fail"}
        assert failed == {}, json.dumps(failed, indent=1)
        assert {n: c["summary"] for n, c in cases.items() if c["verdict"] == "skip"} == {4: NO_RETRY_AFTER}
        # The faults were really staged on the database connection:
        assert "proxy rule drop_after on COMMIT: applied 1 time(s)" in cases[2]["evidence"], cases[2]
        assert "proxy rule drop_before on BEGIN: applied 1 time(s)" in cases[3]["evidence"], cases[3]
        assert "proxy rule refuse on every connection: applied 1 time(s)" in cases[3]["evidence"], cases[3]
        assert any("killed (SIGKILL) with the COMMIT's answer held" in line for line in cases[5]["evidence"])
        assert "find_all by the compensation key: 1 undo effect(s)" in cases[6]["evidence"], cases[6]
        assert action["target"].startswith("postgresql://127.0.0.1:")
    assert done.returncode == 0, done.stderr[-3000:]
