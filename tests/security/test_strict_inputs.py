"""Strict inputs: nothing an agent sends is coerced into something it did not say.

`"amount": true` must not become a 1-cent invoice, `"pivot": "yes"` a point of no return,
`"wait_s": "10"` a number, nor the bare words NaN and Infinity numbers. And "no input" is the
same whether it comes as no body, `{}` or `null`.
"""

import json
import uuid
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from pivot.compensations import strict_json
from pivot.services.client import PivotClient, error_of
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_approvals import park


def _ledgers(stack: Stack, sandboxes: Sandboxes) -> dict[str, int]:
    return {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls}


def _post(stack: Stack, path: str, body: str | bytes | None) -> httpx.Response:
    headers = {"content-type": "application/json"} if body is not None else {}
    return httpx.post(f"{stack.ingress_url}{path}", content=body, headers=headers, timeout=60)


def _invoice_plan(amount: Any = 12000, pivot: Any = True) -> dict[str, Any]:
    plan = flagship_plan(f"strict+{uuid.uuid4().hex[:8]}@example.com")
    plan["steps"][1]["pivot"] = pivot
    plan["steps"][1]["params"]["lines"][0]["amount"] = amount
    return plan


@pytest.mark.parametrize(("amount", "pivot", "path"), [
    (True, True, "steps[1].params.lines[0].amount"),  # a boolean is not 1 cent
    ("12000", True, "steps[1].params.lines[0].amount"),  # a string is not a number
    (12000.0, True, "steps[1].params.lines[0].amount"),  # cents are whole
    (12000, "yes", "steps[1].pivot"),  # "yes" is not true
    (12000, 1, "steps[1].pivot"),
])
def test_a_plan_is_not_coerced(stack: Stack, sandboxes: Sandboxes, amount: Any, pivot: Any, path: str) -> None:
    run_id = f"strict-{uuid.uuid4().hex[:10]}"
    before = _ledgers(stack, sandboxes)
    response = _post(stack, f"/SagaRun/{run_id}/run", json.dumps(_invoice_plan(amount, pivot)))
    assert response.status_code == 400, response.text
    refusal = error_of(response)
    assert refusal.code == "plan_rejected" and path in [v.path for v in refusal.violations or []], response.text
    assert _ledgers(stack, sandboxes) == before


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(stack: Stack, sandboxes: Sandboxes, word: str) -> None:
    before = _ledgers(stack, sandboxes)
    run_id = f"strict-nan-{uuid.uuid4().hex[:10]}"
    plan = json.dumps(_invoice_plan()).replace("12000", word)
    rejected = _post(stack, f"/SagaRun/{run_id}/run", plan)
    assert rejected.status_code == 400 and word.lstrip("-") in rejected.text, rejected.text
    step = f'{{"step": "contact", "action": "hubspot.create_contact", "params": {{"email": "n@example.com"}}, ' \
           f'"wait_s": {word}}}'
    refused = _post(stack, f"/Saga/{run_id}-open/step", step)
    assert refused.status_code == 400 and "not a JSON value" in refused.text, refused.text
    assert _ledgers(stack, sandboxes) == before


@pytest.mark.parametrize(("field", "value"), [("wait_s", "10"), ("pivot", "yes"), ("pivot", 1)])
def test_an_open_saga_step_is_not_coerced(stack: Stack, sandboxes: Sandboxes, field: str, value: Any) -> None:
    before = _ledgers(stack, sandboxes)
    run_id = f"strict-step-{uuid.uuid4().hex[:10]}"
    step = {"step": "contact", "action": "hubspot.create_contact", "params": {"email": f"s+{run_id}@example.com"},
            field: value}
    response = _post(stack, f"/Saga/{run_id}/step", json.dumps(step))
    assert response.status_code == 400, response.text
    refusal = error_of(response)
    assert refusal.code == "invalid_request" and [v.path for v in refusal.violations or []] == [field], response.text
    assert _ledgers(stack, sandboxes) == before


@pytest.mark.parametrize("body", [None, b"{}", b"null", b"  {}  "])
def test_no_input_is_the_same_in_every_form(stack: Stack, pivot: PivotClient, body: bytes | None) -> None:
    run_id = f"strict-empty-{uuid.uuid4().hex[:10]}"
    for path in (f"/SagaRun/{run_id}/status", f"/Saga/{run_id}/status"):
        response = _post(stack, path, body)
        assert response.status_code == 200 and response.json()["status"] == "not_found", (path, response.text)
    repair = _post(stack, f"/SagaRepair/{run_id}/retry", body)
    assert repair.status_code == 409 and "does not need repair" in repair.text  # read, not refused as input


def test_input_where_none_is_taken_is_refused(stack: Stack) -> None:
    response = _post(stack, "/Saga/strict-input/status", b'{"verbose": true}')
    assert response.status_code == 400 and "takes no input" in response.text


def test_a_decision_is_not_coerced(pivot: PivotClient, stack: Stack) -> None:
    """`"approved": "true"` is refused even with an otherwise valid proof; the saga keeps waiting."""
    from pivot.compensations.approvals import decision_request
    from tests.conftest import APPROVER_TOKENS

    run_id, approval = park(pivot)
    digest = pivot.approval(approval, approver="finance", token=APPROVER_TOKENS["finance"])["pending"]["digest"]
    valid = decision_request(APPROVER_TOKENS["finance"], approval, "finance", True, digest=digest)
    for approved in ("true", 1):
        body = {**valid, "approved": approved}
        response = httpx.post(f"{stack.ingress_url}/Approval/{approval}/decide", json=body, timeout=60)
        assert response.status_code == 403 and "malformed" in response.text, response.text
    assert pivot.status(run_id)["status"] == "waiting_approval"
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="cleanup")
    assert pivot.attach(run_id)["status"] == "compensated"


class _Model(BaseModel):
    count: int
    ratio: float
    flag: bool


@pytest.mark.parametrize("value", [
    {"count": "1", "ratio": 1.0, "flag": True}, {"count": True, "ratio": 1.0, "flag": True},
    {"count": 1.0, "ratio": 1.0, "flag": True}, {"count": 1, "ratio": "1.5", "flag": True},
    {"count": 1, "ratio": 1.0, "flag": "yes"}, {"count": 1, "ratio": 1.0, "flag": 1},
    {"count": 1, "ratio": float("nan"), "flag": True}, {"count": 1, "ratio": float("inf"), "flag": True},
])
def test_validate_refuses_every_coercion(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        strict_json.validate(_Model, value)


def test_validate_keeps_what_json_cannot_say_otherwise() -> None:
    """An int is a valid float, and ISO-8601 strings are durations and times: JSON has no other way."""
    from datetime import timedelta

    class Timed(BaseModel):
        ratio: float
        after: timedelta

    assert strict_json.validate(Timed, {"ratio": 2, "after": "PT15M"}) == Timed(ratio=2.0, after=timedelta(minutes=15))


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "{", "'a'"])
def test_loads_refuses_what_is_not_json(text: str) -> None:
    with pytest.raises(strict_json.NotJson):
        strict_json.loads(text)
