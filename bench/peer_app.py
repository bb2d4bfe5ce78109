"""The peer of the engine-overhead bench: the flagship saga written with PyPI's `restate-saga`.

`PeerSaga/{run_id}/run` takes the same plan JSON as `SagaRun` and does what a user of
`restate-saga` 0.1.0 writes by following its README: three `create_saga_step`s (HubSpot contact,
Stripe invoice with its lines and finalize, Slack post), each registering a compensation (archive,
void, delete) before its action, inside a `SagaRestateWorkflow`. It makes only the writes:
no lookup before a create, no read-back after it, no status, no fence for Slack's missing
idempotency. Stripe gets an Idempotency-Key from the run and step names, as any careful user
would pass. That is the point of the comparison: the peer does less, Pivot does the
verification and the status, and the bench reports what that costs.

`app` serves it next to Pivot's services and `RawSaga` (see bench/raw_app.py), so one service
process answers all three sides.
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

PEER_SAGA = "PeerSaga"

JsonDict = dict[str, Any]


def peer_saga_workflow(clients: RawClients) -> restate.Workflow:
    # The library's way to say "a business rejection stops the saga" (everything else retries).
    register_terminal_errors([ProviderRejected])

    async def create_contact(ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        contact = await clients.hubspot.create_object("contacts", params)
        email = (contact.get("properties") or {}).get("email", params.get("email"))
        return StepResponse(output={"id": str(contact["id"]), "email": email})

    async def archive_contact(data: JsonDict, failed: bool = False) -> None:
        if "id" in data:  # without an id (the create failed) there is nothing to find
            await clients.hubspot.archive_object("contacts", data["id"])

    async def create_invoice(ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        key = f"{params['run_id']}:invoice"
        invoice = await clients.stripe.post("/v1/invoices", {
            "customer": params["customer"], "collection_method": "send_invoice", "auto_advance": False,
            "pending_invoice_items_behavior": "exclude", "days_until_due": 30,
        }, idempotency_key=key)
        for index, line in enumerate(params["lines"]):
            await clients.stripe.post("/v1/invoiceitems", {
                "customer": params["customer"], "invoice": invoice["id"], "amount": line["amount"],
                "currency": line["currency"], "description": line["description"],
            }, idempotency_key=f"{key}:line{index}")
        final = await clients.stripe.post(f"/v1/invoices/{invoice['id']}/finalize", {},
                                          idempotency_key=f"{key}:finalize")
        return StepResponse(output={"id": final["id"], "number": final.get("number"), "status": final.get("status")})

    async def void_invoice(data: JsonDict, failed: bool = False) -> None:
        if "id" in data:
            await clients.stripe.post(f"/v1/invoices/{data['id']}/void", {}, idempotency_key=f"{data['id']}:void")

    async def post_message(ctx: restate.Context, params: JsonDict) -> StepResponse[JsonDict, JsonDict]:
        posted = await clients.slack.call("chat.postMessage", {"channel": params["channel"], "text": params["text"]})
        return StepResponse(output={"channel": params["channel"], "ts": str(posted["ts"])})

    async def delete_message(data: JsonDict, failed: bool = False) -> None:
        if "ts" in data:
            await clients.slack.call("chat.delete", {"channel": data["channel"], "ts": data["ts"]})

    contact_step = create_saga_step("contact", create_contact, archive_contact)
    invoice_step = create_saga_step("invoice", create_invoice, void_invoice)
    notify_step = create_saga_step("notify", post_message, delete_message)
    workflow: restate.Workflow = create_saga_restate_workflow(PEER_SAGA)  # restate-saga ships no types

    @workflow.main(name="run")  # restate-saga's main() calls this with (saga, ctx, input)
    async def run(saga: SagaContext, ctx: restate.WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        contact_params, invoice_params, notify_params = (step["params"] for step in plan["steps"])
        contact = await contact_step(saga, contact_params)
        invoice = await invoice_step(saga, {**invoice_params, "run_id": run_id})
        text = f"Invoice {invoice['number']} is on its way to {contact['email']}"
        message = await notify_step(saga, {"channel": notify_params["channel"], "text": text})
        return {"run_id": run_id, "status": "committed", "contact": contact, "invoice": invoice, "message": message}

    return workflow


app = create_bench_app(extra=[peer_saga_workflow(RawClients())])
