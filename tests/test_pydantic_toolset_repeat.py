"""The Restate-hosted pydantic-ai toolset (`PivotToolset`, in the handler's own journal) keeps the
duplicate-step guard and passes `repeat`: a model that re-mints a tool call id for a refund it
already made is answered with that refund (`duplicate_of`), and one that says `repeat` gets a
second refund. The Stripe ledger counts them."""

import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from compensations.keys import forward_key
from services.local.processes import ManagedProcess, free_port, wait_until
from services.local.restate_binary import PROJECT_ROOT
from services.local.stack import Stack
from tests.sandboxes import Sandboxes

REFUND = "stripe.refund"


@pytest.fixture(scope="module")
def refund_agent(stack: Stack) -> Iterator[str]:
    """The test app served by its own process and registered with Restate; its ingress path."""
    port = free_port()
    process = ManagedProcess(
        "refund-agent", [sys.executable, "-m", "services.serve", "--app", "tests.refund_agent_app:app",
                         "--bind", f"127.0.0.1:{port}"],
        env=stack.service.env, cwd=PROJECT_ROOT, log_path=stack.log_dir / "refund-agent.log")
    process.start()
    try:
        wait_until(lambda: httpx.post(f"{stack.admin_url}/deployments", json={"uri": f"http://127.0.0.1:{port}"},
                                      timeout=10).status_code in {200, 201}, timeout_s=60,
                   what="the refund agent's deployment")
        yield f"{stack.ingress_url}/RefundAgent/refunds"
    finally:
        process.stop()


def test_a_re_minted_refund_is_answered_and_a_meant_one_is_made(refund_agent: str, sandboxes: Sandboxes) -> None:
    response = httpx.post(refund_agent, json={"note": uuid.uuid4().hex}, timeout=120,
                          headers={"idempotency-key": uuid.uuid4().hex})
    assert response.status_code == 200, response.text
    result = response.json()

    outcome = result["outcome"]
    assert outcome["status"] == "committed", result
    assert [s["id"] for s in outcome["steps"]] == ["charge", "refund", "refund_meant"]  # the twin recorded nothing
    assert result["output"].startswith("duplicate_of=refund: Nothing was written: step 'refund_again'")
    run_id = outcome["run_id"]
    refunds = [e for e in sandboxes.ledger("stripe") if (e["op"], e["object"]) == ("create", "refund")
               and any((e.get("idempotency_key") or "").startswith(forward_key(run_id, step, REFUND))
                       for step in ("refund", "refund_again", "refund_meant"))]
    assert len(refunds) == 2
