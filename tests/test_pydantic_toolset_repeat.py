"""The Restate-hosted pydantic-ai toolset (`PivotToolset`, in the handler's own journal) keeps the
duplicate-step guard and passes `repeat`: a model that re-mints a tool call id for a refund it
already made is answered with that refund (`duplicate_of`), and one that says `repeat` gets a
second refund. The Stripe ledger counts them."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from pivot.compensations.keys import forward_key
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.served_apps import served_app

REFUND = "stripe.refund"


@pytest.fixture(scope="module")
def refund_agent(stack: Stack) -> Iterator[str]:
    """The test app served by its own process and registered with Restate; its ingress path."""
    with served_app(stack, "tests.refund_agent_app:app", "refund-agent"):
        yield f"{stack.ingress_url}/RefundAgent/refunds"


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
