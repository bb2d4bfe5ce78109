"""The same back office as tool calls on an open saga: one step at a time, each decided from the
last verified result, the way an LLM agent works.

The agent asks for the confirmation email early (it knows the address); Pivot defers it to commit,
because an email cannot be unsent, and sends it last, naming the fulfilment that by then exists.
It checks each answer: a step that failed has already unwound the saga, and the agent stops.

    .venv/bin/pivot dev                                       # in one terminal
    .venv/bin/python -m examples.checkout.open_saga_agent     # in another
"""

import uuid
from typing import Any

from examples.checkout.local import main
from pivot import PivotClient
from pivot.services.local.checkout import PlacedOrder, checkout_steps


def run_task(client: PivotClient, order: PlacedOrder, run_id: str | None = None) -> dict[str, Any]:
    run_id = run_id or f"checkout-{uuid.uuid4().hex[:12]}"
    steps = {step["id"]: step for step in checkout_steps(order)}
    email = steps.pop("email")
    client.step(run_id, email["id"], email["action"], email["params"])  # "deferred": sent at commit, last
    for step in steps.values():
        answer = client.step(run_id, step["id"], step["action"], step["params"], pivot=step.get("pivot", False))
        if answer["saga"]["status"] != "open":  # the step failed: the saga already unwound
            return dict(answer["saga"])
    return client.commit(run_id)


if __name__ == "__main__":
    main(run_task, __doc__ or "")
