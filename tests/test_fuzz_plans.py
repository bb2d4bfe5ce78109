"""Hostile input through the real ingress: every malformed plan gets a clear 4xx rejection
(never a 500, never a hang, never a partial execution)."""

import json
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pivot.compensations.keys import forward_key
from pivot.services.client import error_of
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

REJECTED: list[str] = []
"""Run ids the fuzz test saw rejected; the next test proves none of them wrote anything."""

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def _mutated_flagship(draw: st.DrawFn) -> Any:
    plan = flagship_plan()
    step = draw(st.sampled_from(plan["steps"]))
    field = draw(st.sampled_from(["id", "action", "params", "pivot", "group", "approval", "extra", "not_before"]))
    step[field] = draw(JSON | st.text(alphabet=st.characters(), min_size=0, max_size=300))
    if draw(st.booleans()):  # references to itself, to later steps, and to nowhere
        step["params"] = {"text": {"$from": draw(st.sampled_from(["notify.ts", "contact.id", "x.y", "", "a"]))}}
    return plan


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "flagship", "bytes", "deep", "huge", "many", "unicode"]))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "flagship":
        return json.dumps(_mutated_flagship(draw)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(min_value=10, max_value=50_000))
        return ("[" * depth + "]" * depth).encode()
    if kind == "huge":
        size = draw(st.sampled_from([20_000, 300_000, 1_500_000]))
        plan = flagship_plan()
        plan["steps"][0]["params"]["firstname"] = "x" * size
        return json.dumps(plan).encode()
    if kind == "many":
        count = draw(st.sampled_from([51, 500, 3_000]))
        step = flagship_plan()["steps"][0]
        return json.dumps({"steps": [step | {"id": f"s{i}"} for i in range(count)]}).encode()
    text = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60))
    return json.dumps({"steps": [{"id": text, "action": text, "params": {text: text}}]}).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=hostile_bodies())
def test_hostile_plans_are_refused_clearly(stack: Stack, body: bytes) -> None:
    run_id = f"fuzz-{uuid.uuid4().hex}"
    response = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/run", content=body,
                          headers={"content-type": "application/json"}, timeout=60)
    if response.status_code == 200:  # the mutation happened to leave a valid plan: it ran, whole
        assert response.json()["status"] in {"committed", "compensated"}, response.text
        return
    REJECTED.append(run_id)
    assert response.status_code == 400, (response.status_code, response.text[:300], body[:200])
    if not body:
        # Restate's ingress itself refuses a call with no input before any handler runs.
        assert response.text
        return
    refusal = error_of(response)
    assert refusal.code == "plan_rejected" and refusal.run == run_id and refusal.violations, response.text
    assert all(v.rule and v.message and v.fix for v in refusal.violations)


def test_rejected_fuzz_runs_applied_nothing(stack: Stack, sandboxes: Sandboxes) -> None:
    """Runs after the fuzz test (file order): no rejected run left an effect in any ledger."""
    assert REJECTED, "the fuzz test ran first and rejected plans"
    keys = {forward_key(run_id, step["id"], step["action"]) for run_id in REJECTED
            for step in flagship_plan()["steps"]}
    effects = [e for p in stack.sandbox_urls for e in sandboxes.ledger(p)
               if (e.get("idempotency_key") or "").split(":")[0] in keys]
    assert effects == []
