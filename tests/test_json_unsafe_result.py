"""A forward result that is not JSON-safe must never make the write run again."""

import uuid

from pivot.compensations.keys import forward_key
from pivot.services.client import PivotClient
from tests.sandboxes import Sandboxes


def test_unsafe_result_is_coerced_and_the_write_runs_once(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"unsafe-{uuid.uuid4().hex[:10]}"
    plan = {"steps": [{"id": "contact", "action": "testkit.unsafe_contact",
                       "params": {"email": f"{run_id}@example.com"}}]}

    outcome = pivot.run(run_id, plan)

    assert outcome["status"] == "committed", outcome
    result = outcome["steps"][0]["result"]
    assert result["amount"] == "12.30" and result["echo"]["email"] == f"{run_id}@example.com"
    assert isinstance(result["at"], str) and result["tags"] == ["a"]
    key = forward_key(run_id, "contact", "testkit.unsafe_contact")
    assert [e["op"] for e in sandboxes.ledger("hubspot") if e["idempotency_key"] == key] == ["create"]
