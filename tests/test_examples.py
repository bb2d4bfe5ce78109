"""The scripted agents in examples/ run against the real stack, as an agent developer would."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples import flagship_agent, shop_order_agent, tool_calling_agent
from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.served_apps import served_app


def test_flagship_agent_relays_a_verified_summary(pivot: PivotClient) -> None:
    outcome = flagship_agent.run_task(pivot, f"ex+{uuid.uuid4().hex[:8]}@example.com")
    assert outcome["status"] == "committed", outcome
    assert "Stripe invoice" in outcome["summary"] and "Slack message" in outcome["summary"]


def test_shop_order_agent_completes_and_announces(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"shop-{uuid.uuid4().hex[:10]}"
    email = f"shop+{uuid.uuid4().hex[:8]}@example.com"
    outcome = shop_order_agent.run_task(pivot, email, run_id)
    assert outcome["status"] == "committed", outcome
    order = next(s for s in outcome["steps"] if s["id"] == "order")
    announce = next(s for s in outcome["steps"] if s["id"] == "announce")
    assert announce["result"]["text"] == f"Order {order['result']['name']} placed for {email}"
    assert order["result"]["total"] == "9.00"


def test_shop_order_agent_undoes_the_draft_when_completion_is_refused(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id = f"shop-{uuid.uuid4().hex[:10]}"
    plan = shop_order_agent.order_plan(f"shop+{uuid.uuid4().hex[:8]}@example.com")
    plan["steps"][1]["params"]["draft_order"] = "gid://shopify/DraftOrder/999999999"
    outcome = pivot.run(run_id, plan)
    assert outcome["status"] == "compensated", outcome
    assert [s["state"] for s in outcome["steps"]] == ["compensated", "failed", "not_run"]
    assert "No Slack message was sent" in outcome["summary"]


def test_tool_calling_agent_commits_with_the_post_last(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"agent-{uuid.uuid4().hex[:10]}"
    outcome = tool_calling_agent.run_task(pivot, f"tool+{uuid.uuid4().hex[:8]}@example.com", run_id)
    assert outcome["status"] == "committed", outcome
    post = sandboxes.effects_of("slack", run_id, "notify", "slack.post_message")
    invoice = [e for e in sandboxes.effects_of("stripe", run_id, "invoice", "stripe.create_invoice")
               if (e["op"], e["object"]) == ("finalize", "invoice")]
    assert len(post) == 1 and len(invoice) == 1
    assert post[0]["at"] >= invoice[0]["at"]  # announced only once the invoice existed


@pytest.fixture(scope="module")
def library_service(stack: Stack) -> Iterator[None]:
    """The library example served by its own process and registered next to Pivot's service."""
    with served_app(stack, "examples.library_handler:app", "library-example"):
        yield


def _onboard(stack: Stack, email: str) -> dict[str, Any]:
    response = httpx.post(f"{stack.ingress_url}/Onboarding/onboard", timeout=120,
                          json={"email": email, "customer": DEMO_CUSTOMER, "amount": 4200})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_library_mode_in_a_users_own_handler(stack: Stack, library_service: None, sandboxes: Sandboxes) -> None:
    email = f"lib+{uuid.uuid4().hex[:8]}@example.com"
    outcome = _onboard(stack, email)

    assert outcome["status"] == "committed", outcome
    assert [s["state"] for s in outcome["steps"]] == ["verified", "verified", "verified"]
    run_id = outcome["run_id"]
    assert sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact") == [("create", "contact")]
    assert sandboxes.ops("slack", run_id, "announce", "slack.post_message") == [("send", "message")]
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["kind"] == "pivot" and invoice["result"]["amount_due"] == 4200

    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    failed = _onboard(stack, f"lib2+{uuid.uuid4().hex[:8]}@example.com")
    assert failed["status"] == "compensated", failed
    assert [s["state"] for s in failed["steps"]] == ["compensated", "not_run", "failed"]
    assert sandboxes.ops("hubspot", failed["run_id"], "contact", "hubspot.create_contact") == [
        ("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", failed["run_id"], "announce", "slack.post_message") == []
