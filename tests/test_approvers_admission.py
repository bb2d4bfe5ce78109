"""A gate naming an approver the service does not have is refused before anything runs.

Nobody could ever decide such a gate, so the saga would park until its deadline (days) holding
whatever ran before it. Plans refuse it as a violation like any other (rule `approvers`), open-saga
steps and a user's own handler at admission; each refusal names the unknown approver and lists the
configured ones (the stack's PIVOT_APPROVERS: finance, ops)."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pivot.compensations.admission import StepRefused, admit
from pivot.compensations.kinds import SagaStatus
from pivot.compensations.plan import StepSpec
from pivot.compensations.record import SagaRecord
from pivot.services.catalog import build_catalog, configured_approvers
from pivot.services.cli import explain
from pivot.services.cli.main import main
from pivot.services.client import PivotClient, PlanRejectedError, StepRejectedError
from pivot.services.local import approver_tokens
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.served_apps import served_app
from tests.test_approvals import gated_plan, inbox

CONTACT = "hubspot.create_contact"


def unknown_gate(plan: dict[str, object]) -> dict[str, object]:
    plan["steps"][1]["approval"]["approvers"] = ["finance", "cfo"]  # type: ignore[index]
    return plan


def says_who(message: str) -> None:
    assert "'cfo'" in message and "configured: finance, ops" in message, message


def test_a_plan_gated_on_an_unknown_approver_is_rejected_and_runs_nothing(
        pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"approvers-plan-{uuid.uuid4().hex[:12]}"
    with pytest.raises(PlanRejectedError) as rejected:
        pivot.run(run_id, unknown_gate(gated_plan(f"{run_id}@example.com")))

    violations = rejected.value.outcome["violations"]
    assert [(v["rule"], v["path"], v["step"]) for v in violations] == [
        ("approvers", "steps[1].approval.approvers", "invoice")]
    says_who(violations[0]["message"])
    assert pivot.status(run_id)["status"] == "rejected"
    assert sandboxes.effects_of("hubspot", run_id, "contact", CONTACT) == []  # the step before the gate never ran
    assert all(item["run_id"] != run_id for item in inbox(pivot))  # nothing parked


def test_an_open_saga_step_gated_on_an_unknown_approver_is_refused_and_opens_nothing(
        stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"approvers-open-{uuid.uuid4().hex[:12]}"
    gate = {"approvers": ["cfo"], "timeout": "PT1H"}
    preview = pivot.preview(run_id, "contact", CONTACT, {"email": f"{run_id}@example.com"}, approval=gate)
    assert preview["verdict"] == "refused" and preview["order"]["violations"][0]["rule"] == "approvers"

    with pytest.raises(StepRejectedError) as refused:
        pivot.step(run_id, "contact", CONTACT, {"email": f"{run_id}@example.com"}, approval=gate, wait_s=5)

    assert refused.value.status == 400 and refused.value.violations[0]["rule"] == "approvers"
    says_who(refused.value.violations[0]["message"])
    assert pivot.status(run_id)["status"] == "not_found"  # the saga was not created
    assert sandboxes.effects_of("hubspot", run_id, "contact", CONTACT) == []
    assert all(item["run_id"] != run_id for item in inbox(pivot))


@pytest.fixture(scope="module")
def gated_library_app(stack: Stack) -> Iterator[None]:
    with served_app(stack, "tests.gated_library_app:app", "gated-library-app"):
        yield


def test_library_mode_refuses_an_unknown_approver_at_admission(
        stack: Stack, gated_library_app: None, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"approvers-lib-{uuid.uuid4().hex[:12]}"
    response = httpx.post(f"{stack.ingress_url}/GatedOnboarding/onboard", timeout=120,
                          json={"run_id": run_id, "email": f"{run_id}@example.com", "approvers": ["cfo"]})

    assert response.status_code == 400, response.text
    refusal = response.json()["metadata"]  # Pivot's fields in Restate's envelope
    assert (refusal["code"], refusal["violation.0.rule"]) == ("invalid_step", "approvers"), response.text
    says_who(response.text)
    assert sandboxes.effects_of("hubspot", run_id, "contact", CONTACT) == []
    assert all(item["run_id"] != run_id for item in inbox(pivot))


def test_admission_checks_the_approvers_the_catalog_is_given() -> None:
    """The engine reads no environment: it checks the names its catalog carries, and none where the
    catalog does not know them (an offline check without PIVOT_APPROVERS)."""
    record = SagaRecord(run_id="r", status=SagaStatus.OPEN)
    spec = StepSpec(id="contact", action=CONTACT, params={"email": "a@example.com"},
                    approval={"approvers": ["cfo", "board"]})  # type: ignore[arg-type]
    with pytest.raises(StepRefused) as refused:
        admit(record, spec, build_catalog(approvers=["finance"]))
    assert refused.value.status == 400 and record.steps == []
    assert "approvers 'cfo', 'board' are not configured (configured: finance)" in refused.value.message
    with pytest.raises(StepRefused, match="configured: none"):
        admit(record, spec, build_catalog(approvers=[]))
    assert admit(record, spec, build_catalog(approvers=["cfo", "board"])).verdict == "run"
    assert configured_approvers({}) is None
    assert configured_approvers({"PIVOT_APPROVERS": "finance:t1,ops:t2"}) == {"finance", "ops"}


@pytest.fixture
def gated_plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(unknown_gate(gated_plan("ada@example.com"))))
    return path


def test_pivot_check_says_which_approvers_are_configured(
        gated_plan_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PIVOT_APPROVERS", "finance:t1,ops:t2")
    assert main(["check", str(gated_plan_file)]) == 2
    out = capsys.readouterr().out
    says_who(" ".join(out.split()))
    assert "approvers configured (PIVOT_APPROVERS): finance, ops" in " ".join(out.split())

    monkeypatch.delenv("PIVOT_APPROVERS")
    local = tmp_path / "approvers"
    approver_tokens.write_approver_tokens(local, {"finance": "t1", "cfo": "t2"})
    monkeypatch.setenv("PIVOT_STATE_DIR", str(tmp_path))  # the local stack's state folder
    assert main(["check", str(gated_plan_file), "--json"]) == 0  # the local stack has a cfo
    answer = json.loads(capsys.readouterr().out)
    assert answer["valid"] and answer["approvers"]["names"] == ["cfo", "finance"]
    assert answer["steps"][1]["approval"] == "waits up to 1d for finance, cfo"

    monkeypatch.setenv("PIVOT_STATE_DIR", str(tmp_path / "none"))
    assert explain.known_approvers().names is None
    assert main(["check", str(gated_plan_file)]) == 0
    assert "approvers: not checked here" in capsys.readouterr().out
