"""The flagship saga: a CRM contact, then a Stripe invoice (the pivot), then a Slack message.

`pivot dev --demo` runs it twice against the sandboxes: once clean, once with every invoice
create answering 500, which must end with the contact archived and no Slack message sent.
"""

from typing import Any

import httpx

DEMO_CUSTOMER = "cus_9s6XKzkNRiz8i3"  # seeded by the Stripe sandbox
DEMO_CHANNEL = "C024BE91L"  # seeded by the Slack sandbox


def flagship_plan(email: str = "ada@example.com") -> dict[str, Any]:
    return {
        "steps": [
            {"id": "contact", "action": "hubspot.create_contact",
             "params": {"email": email, "firstname": "Ada", "lastname": "Lovelace"}},
            {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
             "params": {"customer": DEMO_CUSTOMER,
                        "lines": [{"amount": 12000, "currency": "usd", "description": "Pro plan"}]}},
            {"id": "notify", "action": "slack.post_message",
             "params": {"channel": DEMO_CHANNEL,
                        "text": {"$template": "Invoice {invoice.number} is on its way to {contact.email}"}}},
        ]
    }


def fail_invoice_creates(stripe_sandbox_url: str) -> str:
    """Make every invoice create answer 500 until the rule is removed; returns the rule id."""
    response = httpx.post(f"{stripe_sandbox_url}/_sandbox/faults",
                          json={"method": "POST", "path": "/v1/invoices", "action": "error", "status": 500,
                                "times": None})
    response.raise_for_status()
    return str(response.json()["id"])


def clear_faults(sandbox_url: str) -> None:
    httpx.delete(f"{sandbox_url}/_sandbox/faults").raise_for_status()


def flagship_steps(email: str = "ada@example.com") -> list[dict[str, Any]]:
    """The same task as an agent's tool calls on an open saga, in the order a tool-calling agent
    makes them: the Slack post is asked for before the invoice exists (its text names the invoice
    number by reference), so the saga defers it to commit, when the invoice is verified."""
    contact, invoice, notify = flagship_plan(email)["steps"]
    return [
        {"step": contact["id"], "action": contact["action"], "params": contact["params"]},
        {"step": notify["id"], "action": notify["action"], "params": notify["params"]},
        {"step": invoice["id"], "action": invoice["action"], "params": invoice["params"]},
    ]
