"""The agent's and the operator's side: offline check, schemas and tool definitions, list,
journal and cancel against the real stack."""

import json
import uuid
from pathlib import Path

import pytest

from pivot.services.cli import main
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_approvals import park


def write(tmp_path: Path, plan: object) -> str:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return str(path)


def test_check_explains_a_valid_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", write(tmp_path, flagship_plan()), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and report["pivot"] == "invoice"
    assert [s["kind"] for s in report["steps"]] == ["compensable", "pivot", "noncompensable"]
    assert any("'notify'" in risk for risk in report["risks"])


def test_check_fails_an_unsafe_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = flagship_plan()
    plan["steps"] = [plan["steps"][2], *plan["steps"][:2]]
    assert main(["check", write(tmp_path, plan), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert not report["valid"] and {"before_pivot", "reference_order"} <= {v["rule"] for v in report["violations"]}


def test_journal_of_a_compensated_saga_shows_attempts_and_compensations_in_order(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = f"test-journal-{uuid.uuid4().hex[:10]}"
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    assert pivot.run(run_id, flagship_plan(f"{run_id}@example.com"))["status"] == "compensated"

    assert main(["journal", run_id, "--admin", stack.admin_url, "--json"]) == 0
    events = [e["what"] for e in json.loads(capsys.readouterr().out)["events"]]
    order = [
        "run contact:hubspot.create_contact", "contact → verified", "run invoice:stripe.create_invoice",
        "invoice ✗ attempt 1", "invoice ✗ attempt 5", "invoice → failed", "run contact:compensate",
        "contact → compensated", "saga → compensated",
    ]
    positions = [events.index(what) for what in order]
    assert positions == sorted(positions), events

    assert main(["journal", run_id, "--admin", stack.admin_url]) == 0
    assert "contact → compensated" in capsys.readouterr().out


def test_list_by_status_and_cancel_a_parked_saga(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, _ = park(pivot)
    assert main(["list", "--status", "waiting_approval", "--admin", stack.admin_url, "--json"]) == 0
    assert run_id in {s["run_id"] for s in json.loads(capsys.readouterr().out)}

    assert main(["cancel", run_id, "--admin", stack.admin_url, "--ingress", stack.ingress_url]) == 0
    assert "compensated" in capsys.readouterr().out
    assert pivot.attach(run_id)["status"] == "compensated"
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == [
        "create", "archive"]
    assert main(["list", "--status", "compensated", "--admin", stack.admin_url, "--json"]) == 0
    assert run_id in {s["run_id"] for s in json.loads(capsys.readouterr().out)}


def test_cli_drives_an_open_saga_and_operators_see_it(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    from pivot.services.local.demo import flagship_steps

    run_id = f"test-cli-open-{uuid.uuid4().hex[:10]}"
    contact, notify, invoice = flagship_steps(f"{run_id}@example.com")
    where = ["--ingress", stack.ingress_url, "--json"]

    def step(call: dict[str, object]) -> dict[str, object]:
        assert main(["step", run_id, str(call["step"]), str(call["action"]), "--params",
                     json.dumps(call["params"]), *where]) == 0
        answer: dict[str, object] = json.loads(capsys.readouterr().out)
        return answer

    assert step(contact)["step"]["state"] == "verified"  # type: ignore[index]
    assert step(notify)["step"]["state"] == "deferred"  # type: ignore[index]
    assert main(["step", run_id, "fax", "fax.send", *where]) == 2  # refused: nothing recorded
    assert "unknown action" in capsys.readouterr().out

    assert main(["list", "--status", "open", "--admin", stack.admin_url, "--json"]) == 0
    listed = {s["run_id"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed[run_id]["mode"] == "open" and [s["id"] for s in listed[run_id]["steps"]] == ["contact", "notify"]
    assert main(["status", run_id, "--ingress", stack.ingress_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "open"

    assert main(["cancel", run_id, "--admin", stack.admin_url, "--ingress", stack.ingress_url]) == 0
    assert "compensated" in capsys.readouterr().out
    assert pivot.status(run_id)["status"] == "compensated"
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == [
        "create", "archive"]

    assert main(["journal", run_id, "--admin", stack.admin_url, "--json"]) == 0
    events = [e["what"] for e in json.loads(capsys.readouterr().out)["events"]]
    order = ["run contact:hubspot.create_contact", "contact → verified", "notify → deferred",
             "run contact:compensate", "contact → compensated", "saga → compensated"]
    positions = [events.index(what) for what in order]
    assert positions == sorted(positions), events

    committed = f"{run_id}-2"
    for call in (contact, invoice):
        assert main(["step", committed, str(call["step"]), str(call["action"]), "--params",
                     json.dumps(call["params"]), *where]) == 0
    capsys.readouterr()
    assert main(["commit", committed, *where]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "committed"
    assert pivot.status(committed)["status"] == "committed"
    assert main(["abort", committed, "--ingress", stack.ingress_url]) == 2  # too late: a 409, nothing changed
    assert "saga_committed" in capsys.readouterr().out
    assert [op for op, _ in sandboxes.ops("hubspot", committed, "contact", "hubspot.create_contact")] == ["create"]
