"""Hostile input to an open saga's calls through the real ingress: every malformed `step`, `open`,
`commit` or `abort` body gets a clear 4xx (never a 500, never a hang), and a refused step writes
nothing and records nothing."""

import json
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pivot.compensations.keys import forward_key
from pivot.services.client import error_of
from pivot.services.local.demo import flagship_steps
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_fuzz_plans import JSON

REFUSED: list[tuple[str, str, str]] = []
"""(run id, step id, action) of every refused step; the last test proves none of them wrote."""
ACCEPTED: list[str] = []
"""Run ids whose fuzzed step happened to be valid; they are aborted at the end."""

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def step_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["mutated", "json", "bytes", "deep", "huge", "unicode"]))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.integers(min_value=10, max_value=20_000))
        if depth > 500:  # deeper than any JSON parser should recurse
            return ("[" * depth + "]" * depth).encode()
        return json.dumps({"step": "a", "action": "hubspot.create_contact",
                           "params": {"email": json.loads("[" * depth + "]" * depth)}}).encode()
    if kind == "huge":
        size = draw(st.sampled_from([20_000, 50_000, 300_000]))
        return json.dumps({"step": "a", "action": "hubspot.create_contact", "params": {"email": "x" * size}}).encode()
    if kind == "unicode":
        text = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60))
        return json.dumps({"step": text, "action": text, "params": {text: text}}).encode()
    body: dict[str, Any] = dict(draw(st.sampled_from(flagship_steps("fuzz@example.com"))))
    field = draw(st.sampled_from(["step", "action", "params", "pivot", "approval", "wait_s", "extra"]))
    body[field] = draw(JSON | st.text(alphabet=st.characters(), max_size=300))
    if draw(st.booleans()):
        body["params"] = {"email": {"$from": draw(st.sampled_from(["ghost.email", "", "a", "contact.email"]))}}
    return json.dumps(body).encode()


def _post(stack: Stack, run_id: str, call: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{stack.ingress_url}/Saga/{run_id}/{call}", content=body, timeout=60,
                      headers={"content-type": "application/json"})


REFUSAL_CODES = {"invalid_request", "invalid_step", "step_conflict", "saga_closed", "too_many_steps", "one_pivot",
                 "after_pivot", "run_id_taken", "saga_exists", "busy", "no_saga", "past_pivot"}
"""An open saga's refusals: a code of Pivot's own, never one named after the HTTP status."""


def _assert_clear_refusal(response: httpx.Response, allowed: set[int], body: bytes) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    if not body:  # Restate's ingress itself refuses a call with no input before any handler runs
        assert response.status_code == 400 and response.text
        return
    refusal = error_of(response)
    assert refusal.code in REFUSAL_CODES and refusal.message, response.text
    for violation in refusal.violations or []:
        assert violation.message and violation.fix


@FUZZ
@given(body=step_bodies())
def test_hostile_steps_are_refused_clearly(stack: Stack, body: bytes) -> None:
    run_id = f"fuzz-open-{uuid.uuid4().hex}"
    response = _post(stack, run_id, "step", body)
    if response.status_code == 200:  # the mutation left a valid step: it ran (or was deferred), whole
        assert response.json()["step"]["state"] in {"verified", "deferred", "failed"}, response.text
        ACCEPTED.append(run_id)
        return
    _assert_clear_refusal(response, {400, 409}, body)
    try:
        sent = json.loads(body)
    except (ValueError, RecursionError):
        return
    if isinstance(sent, dict) and isinstance(sent.get("step"), str) and isinstance(sent.get("action"), str):
        REFUSED.append((run_id, sent["step"], sent["action"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=st.sampled_from(["open", "commit", "abort"]),
       body=JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=100)
       | st.fixed_dictionaries({"idle_timeout": st.text(max_size=20) | st.integers(),
                                "wait_s": st.floats(allow_nan=True) | st.text(max_size=5)}).map(
                                    lambda v: json.dumps(v).encode()))
def test_hostile_open_commit_abort_are_refused_clearly(stack: Stack, call: str, body: bytes) -> None:
    run_id = f"fuzz-open-{uuid.uuid4().hex}"
    response = _post(stack, run_id, call, body)
    if response.status_code == 200:
        assert response.json()["status"] in {"open", "compensated", "committed"}, response.text
        ACCEPTED.append(run_id)
        return
    _assert_clear_refusal(response, {400, 404}, body)


def test_refused_steps_wrote_nothing(stack: Stack, sandboxes: Sandboxes) -> None:
    """Runs after the fuzz tests (file order): no refused step left an effect in any ledger."""
    assert REFUSED, "the fuzz test ran first and refused steps"
    keys = {forward_key(run_id, step, action) for run_id, step, action in REFUSED}
    effects = [e for p in stack.sandbox_urls for e in sandboxes.ledger(p)
               if (e.get("idempotency_key") or "").split(":")[0] in keys]
    assert effects == []
    refused_runs = {run_id for run_id, _, _ in REFUSED} - set(ACCEPTED)
    for run_id in list(refused_runs)[:20]:  # nothing recorded either: the saga does not exist
        status = httpx.post(f"{stack.ingress_url}/Saga/{run_id}/status", timeout=30).json()
        assert status["status"] == "not_found", status
    for run_id in ACCEPTED:
        httpx.post(f"{stack.ingress_url}/Saga/{run_id}/abort", timeout=60)
