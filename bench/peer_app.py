"""The peer of the benches: the sagas written with PyPI's `restate-saga`.

`PeerSaga/{run_id}/run` takes the flagship plan's JSON and does what a user of `restate-saga`
0.1.0 writes by following its README: three `create_saga_step`s (HubSpot contact, Stripe invoice
with its lines and finalize, Slack post), each registering a compensation (archive, void, delete)
before its action, inside a `SagaRestateWorkflow`. It makes only the writes: no lookup before a
create, no read-back after it, no status, no fence for Slack's missing idempotency. Stripe gets an
Idempotency-Key from the run and step names, as any careful user would pass. That is the point of
the comparison: the peer does less, Pivot does the verification and the status, and the bench
reports what that costs.

`PeerFiveSaga/{run_id}/run` is the latency bench's five-step saga (bench/latency_plans.py) the
same way: HubSpot contact, Stripe customer, Salesforce Account, Shopify draft order, then the
Stripe invoice for that customer; one step after the other, as the README's sagas run.

`app` serves them next to Pivot's services, `RawSaga`, `RawFiveSaga` and `SequentialSagaRun`
(see bench/raw_app.py), so one service process answers every side.
"""

from typing import Any

import restate
from restate_saga import (
    SagaContext,
    StepResponse,
    create_saga_restate_workflow,
    create_saga_step,
    register_terminal_errors,
)

from bench.raw_app import RawClients, create_bench_app
from pivot.compensations.errors import ProviderRejected
from pivot.providers.shopify import documents

PEER_SAGA = "PeerSaga"
PEER_FIVE_SAGA = "PeerFiveSaga"

JsonDict = dict[str, Any]
Step = Any
"""A `create_saga_step` step: `await step(saga, params)` (restate-saga ships no types)."""


class PeerSteps:
    """Every step the peer sagas use, each a write and its compensation, as the README writes them."""

    def __init__(self, clients: RawClients):
        self.clients = clients
        self.contact: Step = create_saga_step("contact", self.create_contact, self.archive_contact)
        self.invoice: Step = create_saga_step("invoice", self.create_invoice, self.void_invoice)
        self.notify: Step = create_saga_step("notify", self.post_message, self.delete_message)
        self.customer: Step = create_saga_step("customer", self.create_customer, self.delete_customer)
        self.account: Step = create_saga_step("account", self.create_account, self.delete_account)
        self.draft: Step = create_saga_step("draft", self.create_draft, self.delete_draft)

    async def create_contact(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        contact = await self.clients.hubspot.create_object("contacts", params)
        email = (contact.get("properties") or {}).get("email", params.get("email"))
        return StepResponse(output={"id": str(contact["id"]), "email": email})

    async def archive_contact(self, data: JsonDict, failed: bool = False) -> None:
        if "id" in data:  # without an id (the create failed) there is nothing to find
            await self.clients.hubspot.archive_object("contacts", data["id"])

    async def create_invoice(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        stripe, key = self.clients.stripe, f"{params['run_id']}:invoice"
        invoice = await stripe.post("/v1/invoices", {
            "customer": params["customer"], "collection_method": "send_invoice", "auto_advance": False,
            "pending_invoice_items_behavior": "exclude", "days_until_due": 30,
        }, idempotency_key=key)
        for index, line in enumerate(params["lines"]):
            await stripe.post("/v1/invoiceitems", {
                "customer": params["customer"], "invoice": invoice["id"], "amount": line["amount"],
                "currency": line["currency"], "description": line["description"],
            }, idempotency_key=f"{key}:line{index}")
        final = await stripe.post(f"/v1/invoices/{invoice['id']}/finalize", {}, idempotency_key=f"{key}:finalize")
        return StepResponse(output={"id": final["id"], "number": final.get("number"), "status": final.get("status")})

    async def void_invoice(self, data: JsonDict, failed: bool = False) -> None:
        if "id" in data:
            await self.clients.stripe.post(f"/v1/invoices/{data['id']}/void", {},
                                           idempotency_key=f"{data['id']}:void")

    async def post_message(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        posted = await self.clients.slack.call("chat.postMessage", {"channel": params["channel"],
                                                                    "text": params["text"]})
        return StepResponse(output={"channel": params["channel"], "ts": str(posted["ts"])})

    async def delete_message(self, data: JsonDict, failed: bool = False) -> None:
        if "ts" in data:
            await self.clients.slack.call("chat.delete", {"channel": data["channel"], "ts": data["ts"]})

    async def create_customer(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        customer = await self.clients.stripe.post(
            "/v1/customers", {"email": params["email"], "name": params.get("name")},
            idempotency_key=f"{params['run_id']}:customer")
        return StepResponse(output={"id": str(customer["id"])})

    async def delete_customer(self, data: JsonDict, failed: bool = False) -> None:
        if "id" in data:
            await self.clients.stripe.delete(f"/v1/customers/{data['id']}")

    async def create_account(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        record_id = await self.clients.salesforce.create(params["sobject"], params["fields"])
        return StepResponse(output={"id": record_id, "sobject": params["sobject"]})

    async def delete_account(self, data: JsonDict, failed: bool = False) -> None:
        if "id" in data:
            await self.clients.salesforce.delete(data["sobject"], data["id"])

    async def create_draft(self, ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        lines = [{"title": item["title"], "quantity": item["quantity"],
                  "originalUnitPriceWithCurrency": {"amount": item["price"], "currencyCode": "USD"}}
                 for item in params["line_items"]]
        payload = await self.clients.shopify.mutate(
            documents.DRAFT_ORDER_CREATE, {"input": {"lineItems": lines, "email": params.get("email")}},
            "draftOrderCreate")
        return StepResponse(output={"id": str((payload.get("draftOrder") or {}).get("id"))})

    async def delete_draft(self, data: JsonDict, failed: bool = False) -> None:
        if "id" in data:
            await self.clients.shopify.mutate(documents.DRAFT_ORDER_DELETE, {"input": {"id": data["id"]}},
                                              "draftOrderDelete")


def peer_saga_workflow(steps: PeerSteps) -> restate.Workflow:
    # The library's way to say "a business rejection stops the saga" (everything else retries).
    register_terminal_errors([ProviderRejected])
    workflow: restate.Workflow = create_saga_restate_workflow(PEER_SAGA)  # restate-saga ships no types

    @workflow.main(name="run")  # restate-saga's main() calls this with (saga, ctx, input)
    async def run(saga: SagaContext, ctx: restate.WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        contact_params, invoice_params, notify_params = (step["params"] for step in plan["steps"])
        contact = await steps.contact(saga, contact_params)
        invoice = await steps.invoice(saga, {**invoice_params, "run_id": run_id})
        text = f"Invoice {invoice['number']} is on its way to {contact['email']}"
        message = await steps.notify(saga, {"channel": notify_params["channel"], "text": text})
        return {"run_id": run_id, "status": "committed", "contact": contact, "invoice": invoice, "message": message}

    return workflow


def peer_five_workflow(steps: PeerSteps) -> restate.Workflow:
    register_terminal_errors([ProviderRejected])
    workflow: restate.Workflow = create_saga_restate_workflow(PEER_FIVE_SAGA)

    @workflow.main(name="run")
    async def run(saga: SagaContext, ctx: restate.WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        params = {step["id"]: step["params"] for step in plan["steps"]}
        contact = await steps.contact(saga, params["contact"])
        customer = await steps.customer(saga, {**params["customer"], "run_id": run_id})
        account = await steps.account(saga, params["account"])
        draft = await steps.draft(saga, params["draft"])
        invoice = await steps.invoice(saga, {**params["invoice"], "customer": customer["id"], "run_id": run_id})
        return {"run_id": run_id, "status": "committed", "contact": contact, "customer": customer,
                "account": account, "draft": draft, "invoice": invoice}

    return workflow


_steps = PeerSteps(RawClients())
app = create_bench_app(extra=[peer_saga_workflow(_steps), peer_five_workflow(_steps)])
