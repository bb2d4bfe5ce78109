"""The scripted agents in examples/ run against the real stack, as an agent developer would."""

import uuid

from examples import flagship_agent, shop_order_agent
from services.client import PivotClient
from tests.sandboxes import Sandboxes


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
