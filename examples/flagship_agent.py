"""A scripted agent for the flagship task: onboard a customer, invoice them, tell the team.

It does what a well-behaved LLM agent should: one run id per task (so a retried tool call is a
replay, not a second write), one plan for the whole multi-system write, and it relays the
outcome's verified `summary` instead of narrating success itself.
"""

import argparse
import uuid
from typing import Any

from pivot import PivotClient, PlanRejectedError
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack_file import ingress_url


def run_task(client: PivotClient, email: str, run_id: str | None = None) -> dict[str, Any]:
    run_id = run_id or f"agent-{uuid.uuid4().hex[:12]}"
    try:
        return client.run(run_id, flagship_plan(email))
    except PlanRejectedError as rejected:  # the agent fixes its plan, nothing ran
        return rejected.outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingress", help="Restate's ingress (default: $PIVOT_INGRESS_URL, else the local stack's)")
    parser.add_argument("--email", default=f"ada+{uuid.uuid4().hex[:6]}@example.com")
    args = parser.parse_args()
    with PivotClient(ingress_url(args.ingress)) as client:
        outcome = run_task(client, args.email)
    print(f"[{outcome['status']}] {outcome['summary']}")


if __name__ == "__main__":
    main()
