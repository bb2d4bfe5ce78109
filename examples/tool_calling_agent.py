"""A scripted tool-calling agent on an open saga: one tool call at a time, each decided from the
last verified result, and a commit at the end.

This is how LLM agents work (OpenAI and Anthropic tool use, MCP clients, pydantic-ai): they do
not write a plan up front. The saga still protects the task: the Slack post asked for before
the invoice is deferred to commit, an invoice that fails undoes the contact, and an agent that
walks away leaves nothing half done (the idle timeout unwinds it).
"""

import argparse
import uuid
from typing import Any

from pivot import PivotClient
from pivot.services.local.demo import DEMO_CHANNEL, DEMO_CUSTOMER
from pivot.services.local.stack_file import ingress_url


def run_task(client: PivotClient, email: str, run_id: str | None = None) -> dict[str, Any]:
    run_id = run_id or f"agent-{uuid.uuid4().hex[:12]}"
    contact = client.step(run_id, "contact", "hubspot.create_contact", {"email": email})
    if contact["step"]["state"] != "verified":
        return dict(contact["saga"])
    # The agent decides the next calls from the verified contact it just got back.
    client.step(run_id, "notify", "slack.post_message", {
        "channel": DEMO_CHANNEL,
        "text": {"$template": "Invoice {invoice.number} is on its way to {contact.email}"}})
    invoice = client.step(run_id, "invoice", "stripe.create_invoice", {
        "customer": DEMO_CUSTOMER, "lines": [{"amount": 12000, "currency": "usd", "description": "Pro plan"}]})
    if invoice["saga"]["status"] != "open":  # the invoice failed: the saga already unwound
        return dict(invoice["saga"])
    return client.commit(run_id)


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
