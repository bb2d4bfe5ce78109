"""Pivot's engine inside a Restate handler of your own (library mode).

The seed pattern of sagas on Restate: register each compensation before its `ctx.run`, unwind
on a TerminalError. `Saga` does it with every guarantee of Pivot's plans: structural keys, the
compensation registered before the write, one journaled lookup → write → read-back per step,
noncompensable steps deferred to commit, a verified outcome. Serve it next to Pivot's service:

    eval "$(.venv/bin/pivot env)"   # the local stack's addresses, sandboxes and their credentials
    .venv/bin/python -m pivot.services.serve --app examples.library_handler:app --bind 127.0.0.1:9081
    curl -X POST "$PIVOT_ADMIN_URL/deployments" -H 'content-type: application/json' \\
         -d '{"uri": "http://127.0.0.1:9081"}'
    curl "$PIVOT_INGRESS_URL/Onboarding/onboard" -H 'content-type: application/json' \\
         -d '{"email": "hedy@example.com", "customer": "cus_9s6XKzkNRiz8i3", "amount": 12000}'
"""

from typing import Any

import restate
from pydantic import BaseModel, Field

from pivot import Saga, SagaEnded, build_catalog, identity_keys

CHANNEL = "C024BE91L"

catalog = build_catalog()
onboarding = restate.Service("Onboarding")


class Onboard(BaseModel):
    email: str
    customer: str
    amount: int = Field(gt=0, description="In cents")


@onboarding.handler()
async def onboard(ctx: restate.Context, request: Onboard) -> dict[str, Any]:
    # The invocation id is the run id: it stays the same on every retry of this invocation, so a
    # step's keys do too (and a provider sees a replay, never a second write).
    run_id = ctx.request().id
    try:
        async with Saga(ctx, run_id, catalog) as saga:
            await saga.step("contact", "hubspot.create_contact", {"email": request.email})
            # Asked before the invoice exists: deferred to commit, when its reference has a value.
            await saga.step("announce", "slack.post_message", {"channel": CHANNEL, "text": {
                "$template": "Invoice {invoice.number} is on its way to {contact.email}"}})
            await saga.step("invoice", "stripe.create_invoice", {
                "customer": request.customer,
                "lines": [{"amount": request.amount, "currency": "usd", "description": "Onboarding"}]})
        # Leaving the block committed the saga: the announcement was sent, after the invoice.
    except SagaEnded as ended:  # a step failed and everything that took effect was undone
        return ended.outcome.model_dump(mode="json", exclude_none=True)
    return saga.outcome.model_dump(mode="json", exclude_none=True)


app = restate.app(services=[onboarding], identity_keys=identity_keys())
