"""A scripted agent for a shop task: draft an order, complete it (the point of no return: a
real order exists afterwards), then announce it. If completing fails, the draft is deleted;
the announcement only ever happens for an order that exists."""

import argparse
import uuid
from typing import Any

from pivot import PivotClient
from pivot.services.local.stack_file import ingress_url

CHANNEL = "C024BE91L"


def order_plan(email: str, quantity: int = 2) -> dict[str, Any]:
    return {"steps": [
        {"id": "draft", "action": "shopify.create_draft_order",
         "params": {"email": email, "currency": "USD",
                    "line_items": [{"title": "Pivot stickers", "price": "4.50", "quantity": quantity}]}},
        {"id": "order", "action": "shopify.complete_draft_order", "pivot": True,
         "params": {"draft_order": {"$from": "draft.id"}}},
        {"id": "announce", "action": "slack.post_message",
         "params": {"channel": CHANNEL,
                    "text": {"$template": "Order {order.name} placed for {draft.email}"}}},
    ]}


def run_task(client: PivotClient, email: str, run_id: str | None = None) -> dict[str, Any]:
    return client.run(run_id or f"shop-{uuid.uuid4().hex[:12]}", order_plan(email))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingress", help="Restate's ingress (default: $PIVOT_INGRESS_URL, else the local stack's)")
    parser.add_argument("--email", default=f"grace+{uuid.uuid4().hex[:6]}@example.com")
    args = parser.parse_args()
    with PivotClient(ingress_url(args.ingress)) as client:
        outcome = run_task(client, args.email)
    print(f"[{outcome['status']}] {outcome['summary']}")


if __name__ == "__main__":
    main()
