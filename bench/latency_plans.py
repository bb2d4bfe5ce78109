"""The two sagas of the latency bench, each as a plan and as an agent's calls on an open saga.

- `flagship`: HubSpot contact, Stripe invoice (the pivot), Slack post (services/local/demo.py).
- `five`: four independent compensable steps on four different systems — a HubSpot contact, a
  Stripe customer, a Salesforce Account, a Shopify draft order, none using another's result —
  then a Stripe invoice for that customer as the pivot. Nothing orders the four but the order the
  agent wrote them in, so a plan may run them at once; the hand-written peer runs them one after
  the other, as its README teaches.

Every saga gets its own `token` in its email, names and titles, so no two sagas' objects meet.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pivot.services.local.demo import flagship_plan, flagship_steps

JsonDict = dict[str, Any]

FIVE_LINES = [{"amount": 12000, "currency": "usd", "description": "Pro plan"}]


def five_plan(token: str) -> JsonDict:
    email = f"five+{token}@example.com"
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact",
         "params": {"email": email, "firstname": "Ada", "lastname": "Lovelace"}},
        {"id": "customer", "action": "stripe.create_customer", "params": {"email": email, "name": "Ada Lovelace"}},
        {"id": "account", "action": "salesforce.create_record",
         "params": {"sobject": "Account", "fields": {"Name": f"Analytical Engines {token}"}}},
        {"id": "draft", "action": "shopify.create_draft_order",
         "params": {"line_items": [{"title": "Pro plan", "price": "120.00", "quantity": 1}], "email": email}},
        {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": {"$from": "customer.id"}, "lines": FIVE_LINES}},
    ]}


def five_steps(token: str) -> list[JsonDict]:
    """The same task as an agent's tool calls, one per step in plan order; the invoice is marked
    as the pivot, as an agent that knows its point of no return says."""
    return [{"step": step["id"], "action": step["action"], "params": step["params"],
             **({"pivot": True} if step.get("pivot") else {})}
            for step in five_plan(token)["steps"]]


@dataclass(frozen=True)
class LatencySaga:
    """One saga of the bench: its plan, its open-saga calls, and the services of the hand-written sides."""

    name: str
    plan: Callable[[str], JsonDict]
    calls: Callable[[str], list[JsonDict]]
    peer: str
    """The `restate-saga` workflow that writes it (bench/peer_app.py)."""
    raw: str
    """The plain `ctx.run` workflow that makes Pivot's provider calls (bench/raw_app.py)."""

    @property
    def steps(self) -> int:
        return len(self.plan("x")["steps"])


def _flagship_plan(token: str) -> JsonDict:
    return flagship_plan(f"flagship+{token}@example.com")


def _flagship_calls(token: str) -> list[JsonDict]:
    return flagship_steps(f"flagship+{token}@example.com")


SAGAS = {
    "flagship": LatencySaga("flagship", _flagship_plan, _flagship_calls, peer="PeerSaga", raw="RawSaga"),
    "five": LatencySaga("five", five_plan, five_steps, peer="PeerFiveSaga", raw="RawFiveSaga"),
}
