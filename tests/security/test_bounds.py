"""Bounds: a step scheduled in the year 9999 is refused before anything runs, and a run or step id
outside the one id alphabet is refused by every entry point (HTTP, the client, the CLI)."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.compensations.ids import InvalidId, check_run_id, check_step_id
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes


def _scheduled(when: datetime) -> dict[str, Any]:
    plan = flagship_plan(f"bounds+{uuid.uuid4().hex[:8]}@example.com")
    plan["steps"][0]["not_before"] = when.isoformat()
    return plan


def test_not_before_beyond_the_horizon_is_rejected_and_nothing_runs(stack: Stack, sandboxes: Sandboxes) -> None:
    before = {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls}
    for when in (datetime(9999, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=400)):
        run_id = f"bounds-{uuid.uuid4().hex[:10]}"
        response = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/run", json=_scheduled(when), timeout=60)
        assert response.status_code == 400, response.text
        assert response.json()["metadata"]["code"] == "plan_rejected", response.text
        outcome = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/status", timeout=60).json()
        assert outcome["status"] == "rejected"
        assert [(v["path"], v["rule"]) for v in outcome["violations"]] == [("steps[0].not_before", "bounds")]
        assert "PIVOT_NOT_BEFORE_HORIZON" in outcome["violations"][0]["fix"]
    assert {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls} == before


def test_not_before_within_the_horizon_runs(pivot: PivotClient) -> None:
    """The horizon is a bound, not a ban: a time in the past (or soon) runs at once."""
    run_id = f"bounds-ok-{uuid.uuid4().hex[:10]}"
    assert pivot.run(run_id, _scheduled(datetime.now(UTC) - timedelta(minutes=1)))["status"] == "committed"


def test_pivot_check_applies_the_horizon(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_scheduled(datetime(9999, 1, 1, tzinfo=UTC))))
    result = _pivot(["check", str(plan)], {})
    assert result.returncode == 2 and "not_before" in result.stdout and "Traceback" not in result.stderr


def _pivot(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pivot.services.cli import main; raise SystemExit(main())", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize("bad", ["..", ".", "a/b", "_x", "x" * 129, "run~step", "a b", "ünï"])
def test_the_cli_refuses_a_bad_run_id_before_it_connects(bad: str) -> None:
    # An ingress URL nobody listens on: the refusal must come before any connection.
    result = _pivot(["status", bad], {"PIVOT_INGRESS_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2, result
    assert "is not valid" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_refuses_a_bad_step_id() -> None:
    result = _pivot(["step", "run-1", "a.b", "hubspot.create_contact"], {"PIVOT_INGRESS_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2 and "step id 'a.b' is not valid" in result.stderr


def test_the_client_refuses_a_bad_run_id_before_any_request() -> None:
    with PivotClient("http://127.0.0.1:9") as client, pytest.raises(InvalidId):
        client.status("..")


@pytest.mark.parametrize(("check", "good", "bad"), [
    (check_run_id, ["agent-run-7f3c", "user:42:task-7", "0b9e2c1a-uuid", "v1.2"], [".", "..", "", "_x", "a~b"]),
    (check_step_id, ["contact", "call_abc123", "toolu_01A-x"], ["", "1st", "a.b", "a~b", "x" * 64]),
])
def test_one_alphabet_per_kind_of_id(check: Any, good: list[str], bad: list[str]) -> None:
    assert [check(value) for value in good] == good
    for value in bad:
        with pytest.raises(InvalidId):
            check(value)
