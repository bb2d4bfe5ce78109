"""The back office of a shop, as one plan: a customer placed an order; reserve its stock, charge
the card, record the order (with its `order.placed` outbox event) in the shop's database, fulfil
it, email the confirmation.

The plan states every step up front and Pivot checks its order before anything runs: the three
compensable steps first, the fulfilment as the point of no return, the email (which cannot be
unsent) last. A failure before the fulfilment undoes whatever took effect and sends no email.

    .venv/bin/pivot dev                                  # in one terminal
    .venv/bin/python -m examples.checkout.plan_agent     # in another
"""

import uuid
from typing import Any

from examples.checkout.local import main
from pivot import PivotClient, PlanRejectedError
from pivot.services.local.checkout import PlacedOrder, checkout_plan


def run_task(client: PivotClient, order: PlacedOrder, run_id: str | None = None) -> dict[str, Any]:
    run_id = run_id or f"checkout-{uuid.uuid4().hex[:12]}"
    try:
        return client.run(run_id, checkout_plan(order))
    except PlanRejectedError as rejected:  # the plan's order is unsafe: nothing ran
        return rejected.outcome


if __name__ == "__main__":
    main(run_task, __doc__ or "")
