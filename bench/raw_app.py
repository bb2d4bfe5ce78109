"""The baseline of the engine-overhead bench: the flagship saga as a raw Restate handler.

`RawSaga/{run_id}/run` takes the same plan JSON as `SagaRun` and makes the same provider HTTP
calls as Pivot's three catalog actions (HubSpot: lookup by key, create, read back; Stripe:
create invoice, its lines, finalize, read back; Slack: history scan by key, post, read back),
through the same provider clients, one plain `ctx.run` per step. What it leaves out is exactly
the engine: no plan validation, no `$from` resolution (the message text is built inline), no
status writes, no compensation registration or unwind, no fence entry, no comparison of the
read-back with the plan.

`app` serves it next to Pivot's own services (mirroring `pivot.services.app.create_app`), so one
service process answers both and the bench compares them on equal terms.

    python -m bench.serve --bind 127.0.0.1:9080      # what `bench.engine_overhead` starts
"""

from collections.abc import Sequence
from typing import Any

import restate
from restate import RunOptions, TerminalError, WorkflowContext
from restate.server_types import RestateAppT

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import forward_key
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.client import HUBSPOT_API, HubSpotClient
from pivot.providers.slack.actions.history import EVENT_TYPE, History
from pivot.providers.slack.client import SLACK_API, SlackClient
from pivot.providers.stripe.client import STRIPE_API, StripeClient
from pivot.services.app import create_app
from pivot.services.catalog import CREDENTIAL_ENV

RAW_SAGA = "RawSaga"
KEY_PROPERTY = "pivot_key"  # HubSpot's unique key property, as the catalog action uses it
CONTACT_PROPERTIES = ["email", "firstname", "lastname", KEY_PROPERTY]
CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"

JsonDict = dict[str, Any]


class RawClients:
    """One client per provider, configured from the environment exactly as the catalog's are."""

    def __init__(self) -> None:
        self.hubspot = HubSpotClient(Endpoint.from_env("hubspot", HUBSPOT_API, CREDENTIAL_ENV["hubspot"], "HubSpot"))
        self.stripe = StripeClient(Endpoint.from_env("stripe", STRIPE_API, CREDENTIAL_ENV["stripe"], "Stripe"))
        self.slack = SlackClient(Endpoint.from_env("slack", SLACK_API, CREDENTIAL_ENV["slack"], "Slack"))
        self.messages = History(self.slack)

    async def create_contact(self, key: str, params: JsonDict) -> JsonDict:
        found = await self.hubspot.get_object("contacts", key, id_property=KEY_PROPERTY,
                                              properties=CONTACT_PROPERTIES)
        if found is None:
            found = await self.hubspot.create_object("contacts", {**params, KEY_PROPERTY: key})
        fresh = await self.hubspot.get_object("contacts", str(found["id"]), properties=CONTACT_PROPERTIES)
        props = (fresh or {}).get("properties") or {}
        return {"id": str(found["id"]), "email": props.get("email")}

    async def create_invoice(self, key: str, params: JsonDict) -> JsonDict:
        invoice = await self.stripe.post("/v1/invoices", {
            "customer": params["customer"], "collection_method": "send_invoice", "auto_advance": False,
            "pending_invoice_items_behavior": "exclude", "metadata": {KEY_PROPERTY: key}, "days_until_due": 30,
        }, idempotency_key=key)
        invoice_id = invoice["id"]
        if invoice.get("status") == "draft":
            present = len(invoice.get("lines", {}).get("data", []))
            for index, line in enumerate(params["lines"][present:], start=present):
                await self.stripe.post("/v1/invoiceitems", {
                    "customer": params["customer"], "invoice": invoice_id, "amount": line["amount"],
                    "currency": line["currency"], "description": line["description"],
                    "metadata": {KEY_PROPERTY: key},
                }, idempotency_key=f"{key}:line{index}")
            await self.stripe.post(f"/v1/invoices/{invoice_id}/finalize", {}, idempotency_key=f"{key}:finalize")
        fresh = await self.stripe.get(f"/v1/invoices/{invoice_id}") or {}
        return {"id": invoice_id, "number": fresh.get("number"), "status": fresh.get("status")}

    async def post_message(self, key: str, channel: str, text: str) -> JsonDict:
        message = await self.messages.find_by_key(channel, key)
        if message is None:
            posted = await self.slack.call("chat.postMessage", {
                "channel": channel, "text": text,
                "metadata": {"event_type": EVENT_TYPE, "event_payload": {"pivot_key": key}},
            })
            ts = str(posted["ts"])
        else:
            ts = str(message["ts"])
        await self.messages.read(channel, ts)
        return {"channel": channel, "ts": ts}


async def _terminal_on_rejection(step: Any, *args: Any) -> JsonDict:
    """Inside `ctx.run`: a business rejection stops the saga (Restate retries everything else)."""
    try:
        result: JsonDict = await step(*args)
    except ProviderRejected as exc:
        raise TerminalError(exc.info.message, status_code=422) from None
    return result


def raw_saga_workflow(clients: RawClients) -> restate.Workflow:
    workflow = restate.Workflow(RAW_SAGA)
    options: RunOptions[JsonDict] = RunOptions(type_hint=dict)

    @workflow.main(name="run")
    async def run(ctx: WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        contact_step, invoice_step, notify_step = plan["steps"]
        contact = await ctx.run_typed("contact", _terminal_on_rejection, options, clients.create_contact,
                                      forward_key(run_id, "contact", CONTACT), contact_step["params"])
        invoice = await ctx.run_typed("invoice", _terminal_on_rejection, options, clients.create_invoice,
                                      forward_key(run_id, "invoice", INVOICE), invoice_step["params"])
        text = f"Invoice {invoice['number']} is on its way to {contact['email']}"
        message = await ctx.run_typed("notify", _terminal_on_rejection, options, clients.post_message,
                                      forward_key(run_id, "notify", NOTIFY), notify_step["params"]["channel"], text)
        return {"run_id": run_id, "status": "committed", "contact": contact, "invoice": invoice, "message": message}

    return workflow


def create_bench_app(extra: Sequence[restate.Workflow] = ()) -> RestateAppT:
    """Pivot's services exactly as `pivot.services.app.create_app` builds them, plus `RawSaga` (and `extra`)."""
    return create_app([raw_saga_workflow(RawClients()), *extra])


app = create_bench_app()
