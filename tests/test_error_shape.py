"""One error shape on every entry point: each refusal reads as JSON with a stable code, without
unwrapping a string.

At the ingress Restate owns the envelope (`{"code": <HTTP status>, "message", "metadata"}`): the
message is plain words and Pivot's fields are metadata keys. Everywhere Pivot owns the answer —
the client's exceptions, `pivot … --json`, the approval page's API — it is `{"error": {"code",
"message", …}}` with the same codes. (MCP tool errors: tests/test_mcp.py.)
"""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.compensations.approvals import NO_DIGEST, decision_request, read_request
from pivot.services.cli.main import main
from pivot.services.client import PivotClient, PivotError, PlanRejectedError, StepConflictError, StepRejectedError
from pivot.services.local.demo import flagship_steps
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.test_approvals import park

BAD_PLAN = {"steps": [{"id": "fax", "action": "fax.send", "params": {}},
                      {"id": "contact", "action": "hubspot.create_contact", "params": {"email": 7}}]}


def new_run(prefix: str) -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"{prefix}-{token}", f"ada+{token}@example.com"


def post(stack: Stack, path: str, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{stack.ingress_url}{path}", json=body, headers=headers, timeout=60)


def envelope(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    """Restate's envelope of a Pivot refusal: the status, words in `message`, the code and the other
    fields in `metadata` — read with `response.json()` alone."""
    body = response.json()
    assert response.status_code == status and body["code"] == status, response.text
    assert isinstance(body["message"], str) and not body["message"].lstrip().startswith(("{", "[")), body
    metadata: dict[str, str] = body["metadata"]
    assert metadata["code"] == code, body
    return metadata


def test_a_rejected_plan_names_every_violation(stack: Stack, pivot: PivotClient) -> None:
    run_id, _ = new_run("shape-plan")
    meta = envelope(post(stack, f"/SagaRun/{run_id}/run", BAD_PLAN), 400, "plan_rejected")
    assert meta["run"] == run_id and meta["field"] == "steps[0].action" and meta["step"] == "fax"
    assert meta["violation_count"] == "2"
    assert (meta["violation.0.rule"], meta["violation.1.path"]) == ("unknown_action", "steps[1].params.email")
    assert all(meta[f"violation.{i}.fix"] for i in range(2))
    stored = post(stack, f"/SagaRun/{run_id}/status").json()  # the whole rejected outcome stays readable
    assert stored["status"] == "rejected" and len(stored["violations"]) == 2

    with pytest.raises(PlanRejectedError) as rejected:
        pivot.run(f"{run_id}-again", BAD_PLAN)
    error = rejected.value.error
    assert (error.code, error.status, error.run, error.field) == ("plan_rejected", 400, f"{run_id}-again",
                                                                   "steps[0].action")
    assert [v.rule for v in error.violations or []] == ["unknown_action", "params"]
    assert rejected.value.outcome["status"] == "rejected" and len(rejected.value.outcome["violations"]) == 2


def test_an_invalid_step_names_its_field(stack: Stack, pivot: PivotClient) -> None:
    run_id, _ = new_run("shape-step")
    step = {"step": "contact", "action": "hubspot.create_contact", "params": {"email": 7}}
    meta = envelope(post(stack, f"/Saga/{run_id}/step", step), 400, "invalid_step")
    assert (meta["run"], meta["step"], meta["field"], meta["violation_count"]) == (run_id, "contact",
                                                                                   "params.email", "1")
    assert meta["violation.0.rule"] == "params" and meta["violation.0.fix"]
    body = envelope(post(stack, f"/Saga/{run_id}/step", {**step, "params": {}, "stepp": 1}), 400, "invalid_request")
    assert body["field"] == "stepp" and body["violation.0.rule"] == "shape"

    with pytest.raises(StepRejectedError) as refused:
        pivot.step(run_id, "contact", "hubspot.create_contact", {"email": 7})
    assert refused.value.code == "invalid_step" and refused.value.violations[0]["path"] == "params.email"
    assert refused.value.error.body()["error"]["field"] == "params.email"


def test_a_step_conflict_names_what_differs(stack: Stack, pivot: PivotClient) -> None:
    run_id, email = new_run("shape-conflict")
    contact = flagship_steps(email)[0]
    pivot.step(run_id, contact["step"], contact["action"], contact["params"])
    other = {**contact, "params": {"email": f"other+{email}"}}
    meta = envelope(post(stack, f"/Saga/{run_id}/step", other), 409, "step_conflict")
    assert (meta["run"], meta["step"], meta["field"]) == (run_id, "contact", "params.email")

    with pytest.raises(StepConflictError) as conflict:
        pivot.step(run_id, contact["step"], contact["action"], other["params"])
    assert conflict.value.code == "step_conflict"
    assert (conflict.value.error.run, conflict.value.error.step) == (run_id, "contact")
    pivot.abort(run_id)


def test_a_closed_saga_takes_no_step(stack: Stack, pivot: PivotClient) -> None:
    run_id, email = new_run("shape-closed")
    contact = flagship_steps(email)[0]
    pivot.step(run_id, contact["step"], contact["action"], contact["params"])
    assert pivot.commit(run_id)["status"] == "committed"
    late = {"step": "late", "action": "hubspot.create_contact", "params": {"email": f"late+{email}"}}
    meta = envelope(post(stack, f"/Saga/{run_id}/step", late), 409, "saga_closed")
    assert (meta["run"], meta["step"]) == (run_id, "late")
    meta = envelope(post(stack, f"/Saga/{run_id}-never/commit"), 404, "no_saga")
    assert meta["run"] == f"{run_id}-never"


def test_a_browser_origin_is_refused(stack: Stack) -> None:
    meta = envelope(post(stack, "/SagaRun/shape-origin/status", origin="https://evil.example"), 403,
                    "origin_refused")
    assert meta["field"] == "origin"


def test_a_bad_id_and_a_body_where_none_belongs(stack: Stack) -> None:
    assert envelope(post(stack, "/Saga/..x/status"), 400, "invalid_id")["field"] == "run_id"
    assert envelope(post(stack, "/Approval/no-tilde/get", {}), 400, "invalid_id")["field"] == "approval_id"
    assert envelope(post(stack, "/SagaRun/shape-body/status", [1]), 400, "takes_no_input")["field"] == "body"
    assert envelope(post(stack, "/SagaRepair/shape-body/retry", {"why": 1}), 400, "takes_no_input")
    assert envelope(post(stack, "/SagaRepair/shape-nothing/retry"), 409, "nothing_to_repair")["run"] == "shape-nothing"


def test_approval_refusals_name_the_gate(stack: Stack, pivot: PivotClient) -> None:
    run_id, approval = park(pivot)
    forged = decision_request("guess", approval, "ops", True, "", digest=NO_DIGEST)
    meta = envelope(post(stack, f"/Approval/{approval}/decide", forged), 403, "decision_refused")
    assert (meta["approval"], meta["run"], meta["step"]) == (approval, run_id, "invoice")
    stale = read_request("finance", "wrong-token", 0)
    assert envelope(post(stack, "/Approvals/pending", stale), 401, "read_refused")["field"] == "proof"
    fresh = read_request("finance", APPROVER_TOKENS["finance"], time.time())
    meta = envelope(post(stack, f"/Approval/{run_id}~nothing/get", fresh), 404, "no_approval")
    assert meta["step"] == "nothing"

    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="shape")
    with pytest.raises(PivotError) as twice:
        pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True)
    assert (twice.value.status, twice.value.code, twice.value.error.step) == (409, "already_decided", "invoice")


def test_the_approval_page_api_answers_the_same_shape(stack: Stack, pivot: PivotClient) -> None:
    run_id, approval = park(pivot)

    def page(path: str, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
        response = httpx.post(f"{stack.approvals_url}{path}", json=body, headers=headers, timeout=60)
        return response.status_code, response.json()["error"]

    status, error = page("/api/decide", {"approval_id": approval, "approver": "ops", "token": "guess",
                                         "approved": True, "comment": ""})
    assert status == 403 and error["code"] == "decision_refused" and (error["run"], error["step"]) == (run_id,
                                                                                                       "invoice")
    assert "nothing changed" in error["message"]
    status, error = page("/api/pending", {"approver": "finance", "token": "guess"})
    assert (status, error["code"], error["status"]) == (401, "read_refused", 401)
    status, error = page("/api/pending", {"approver": "finance"})
    assert (status, error["code"]) == (400, "invalid_request")
    status, error = page("/api/pending", {"approver": "finance", "token": "x"}, origin="https://evil.example")
    assert (status, error["code"]) == (403, "origin_refused")
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="shape")


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status = main(list(argv))
    return status, json.loads(capsys.readouterr().out)


def test_the_cli_json_on_failure_is_the_error_body(stack: Stack, pivot: PivotClient, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run_id, email = new_run("shape-cli")
    plan = tmp_path / "bad-plan.json"
    plan.write_text(json.dumps(BAD_PLAN))
    status, body = cli_json(capsys, "run", str(plan), "--run-id", run_id, "--json", "--ingress", stack.ingress_url)
    assert status == 2 and body["error"]["code"] == "plan_rejected" and body["error"]["run"] == run_id
    assert [v["path"] for v in body["error"]["violations"]] == ["steps[0].action", "steps[1].params.email"]

    contact = flagship_steps(email)[0]
    pivot.step(run_id + "-open", contact["step"], contact["action"], contact["params"])
    status, body = cli_json(capsys, "step", run_id + "-open", "contact", "hubspot.create_contact", "--params",
                            json.dumps({"email": f"other+{email}"}), "--json", "--ingress", stack.ingress_url)
    assert status == 2 and body == {"error": {**body["error"], "code": "step_conflict", "status": 409,
                                              "run": run_id + "-open", "step": "contact", "field": "params.email"}}
    status, body = cli_json(capsys, "step", run_id + "-open", "again", "hubspot.create_contact", "--params",
                            '{"email": 7}', "--json", "--ingress", stack.ingress_url)
    assert status == 2 and body["error"]["code"] == "invalid_step" and body["error"]["field"] == "params.email"
    pivot.abort(run_id + "-open")
