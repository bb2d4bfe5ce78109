"""What both checkout agents need to run from a shell: the local stack's shop, an order placed in
it by a customer, and the outcome printed."""

import argparse
import uuid
from collections.abc import Callable
from typing import Any

from pivot import PivotClient
from pivot.services.local.checkout import PlacedOrder, Shop, ensure_orders_table
from pivot.services.local.stack_file import running_stack

Task = Callable[[PivotClient, PlacedOrder], dict[str, Any]]


def local_shop() -> Shop:
    """The shop the local stack runs (`pivot dev`): its ingress, sandboxes and database."""
    found = running_stack()
    dsn = found.info.postgres_dsn if found else None
    if found is None or not dsn:
        raise SystemExit("start the local stack first: .venv/bin/pivot dev")
    info = found.info
    shop = Shop(info.ingress, dict(info.sandboxes), info.credentials["SHOPIFY_ACCESS_TOKEN"], dsn)
    ensure_orders_table(shop.dsn)
    return shop


def main(run_task: Task, description: str) -> None:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--email", default=f"buyer+{uuid.uuid4().hex[:6]}@example.com")
    args = parser.parse_args()
    shop = local_shop()
    order = shop.storefront().place(args.email)
    with PivotClient(shop.ingress) as client:
        outcome = run_task(client, order)
    print(f"[{outcome['status']}] {outcome['summary']}")
