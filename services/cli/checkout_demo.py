"""`pivot demo --checkout`: the checkout saga on the running local stack, clean and then with a
real-world failure at each step in turn (see pivot.services.local.checkout), each run's verified
outcome printed as it ends."""

import time
from typing import Any

from rich.console import Console

from pivot.services.cli import render
from pivot.services.client import PivotClient
from pivot.services.local.checkout import FAILURES, Shop, checkout_plan, clear_shop_faults, ensure_orders_table
from pivot.services.local.stack_file import StackInfo
from pivot.services.terminal_text import text


def shop_of(info: StackInfo) -> Shop:
    if not info.postgres_dsn:
        raise ValueError("the local stack runs no PostgreSQL (an older pivot dev?): restart it")
    return Shop(info.ingress, dict(info.sandboxes), info.credentials["SHOPIFY_ACCESS_TOKEN"], info.postgres_dsn)


def run_checkout_demo(shop: Shop, console: Console) -> list[dict[str, Any]]:
    """Six runs: clean, then one per failure; returns their outcomes, in order."""
    ensure_orders_table(shop.dsn)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs: list[tuple[str, str, Any]] = [("clean", "the checkout, clean", None)]
    runs += [(failure.step, f"the checkout when {failure.what} (at '{failure.step}')", failure) for failure in FAILURES]
    outcomes = []
    with PivotClient(shop.ingress) as client:
        for number, (label, title, failure) in enumerate(runs, start=1):
            console.rule(text(f"{number}. {title}"))
            order = shop.storefront().place(f"buyer+{stamp}-{label}@example.com")
            try:
                options = failure.arrange(shop, order) if failure else {}
                outcomes.append(client.run(f"checkout-{stamp}-{label}", checkout_plan(order, **options)))
            finally:
                clear_shop_faults(shop)
            render.outcome(console, outcomes[-1])
    return outcomes
