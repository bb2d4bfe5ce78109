"""The baseline of the engine-overhead and latency benches: each saga as a raw Restate handler.

`RawSaga/{run_id}/run` takes the same plan JSON as `SagaRun` and makes the same provider HTTP
calls as Pivot's three catalog actions (HubSpot: lookup by key, create, read back; Stripe:
create invoice, its lines, finalize, read back; Slack: history scan by key, post, read back),
through the same provider clients, one plain `ctx.run` per step. What it leaves out is exactly
the engine: no plan validation, no `$from` resolution (the message text is built inline), no
status writes, no compensation registration or unwind, no fence entry, no comparison of the
read-back with the plan.

`RawFiveSaga/{run_id}/run` does the same for the latency bench's five-step saga
(bench/latency_plans.py): HubSpot contact (as above), Stripe customer, Salesforce Account, Shopify
draft order — each looked up by key, written if absent, read back, through the catalog actions'
own provider calls (`keyed`) — then the Stripe invoice for that customer, one after the other.

`app` serves it next to Pivot's own services (mirroring `pivot.services.app.create_app`), so one
service process answers both and the bench compares them on equal terms.

    python -m bench.serve --bind 127.0.0.1:9080      # what `bench.engine_overhead` starts
"""

from collections.abc import Sequence
from typing import Any, TypeVar

import restate
from restate import RunOptions, TerminalError, WorkflowContext
from restate.server_types import RestateAppT

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import forward_key
from pivot.compensations.kit import KeyedAction
from pivot.compensations.schedule import one_at_a_time
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.client import HUBSPOT_API, HubSpotClient
from pivot.providers.salesforce.actions.records import CreateRecord
from pivot.providers.salesforce.client import SALESFORCE_API, SalesforceClient
from pivot.providers.shopify.actions.draft_orders import CreateDraftOrder
from pivot.providers.shopify.client import SHOPIFY_API, ShopifyClient
from pivot.providers.slack.actions.history import EVENT_TYPE, History
from pivot.providers.slack.client import SLACK_API, SlackClient
from pivot.providers.stripe.actions.customers import CreateCustomer
from pivot.providers.stripe.client import STRIPE_API, StripeClient
from pivot.services.app import create_app
from pivot.services.catalog import CREDENTIAL_ENV, build_catalog, configured_approvers
from pivot.services.handlers.alerts import webhook_alert
from pivot.services.handlers.approvals import InboxGate
from pivot.services.handlers.saga_run import saga_run_workflow

RAW_SAGA = "RawSaga"
RAW_FIVE_SAGA = "RawFiveSaga"
SEQUENTIAL_SAGA_RUN = "SequentialSagaRun"
KEY_PROPERTY = "pivot_key"  # HubSpot's unique key property, as the catalog action uses it
CONTACT_PROPERTIES = ["email", "firstname", "lastname", KEY_PROPERTY]
CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"

JsonDict = dict[str, Any]
Found = TypeVar("Found")


async def keyed(action: KeyedAction[Any, Found], key: str, params: JsonDict) -> Found:
    """Look up by key, write if absent, read back: the provider calls of the kit's step protocol,
    without the engine (no first-write proof to skip the lookup, no comparison with the plan)."""
    model = action.params.model_validate(params)
    found = await action.lookup(model, key)
    written = found if found is not None else await action.write(model, key)
    fresh = await action.read_back(model, key, written)
    if fresh is None:
        raise ProviderRejected("readback_mismatch", f"{action.name}: gone after the write")
    return fresh


class RawClients:
    """One client per provider, configured from the environment exactly as the catalog's are."""

    def __init__(self) -> None:
        self.hubspot = HubSpotClient(Endpoint.from_env("hubspot", HUBSPOT_API, CREDENTIAL_ENV["hubspot"], "HubSpot"))
        self.stripe = StripeClient(Endpoint.from_env("stripe", STRIPE_API, CREDENTIAL_ENV["stripe"], "Stripe"))
        self.slack = SlackClient(Endpoint.from_env("slack", SLACK_API, CREDENTIAL_ENV["slack"], "Slack"))
        self.messages = History(self.slack)
        self.salesforce = SalesforceClient(
            Endpoint.from_env("salesforce", SALESFORCE_API, CREDENTIAL_ENV["salesforce"], "Salesforce"))
        self.shopify = ShopifyClient(Endpoint.from_env("shopify", SHOPIFY_API, CREDENTIAL_ENV["shopify"], "Shopify"))
        self.customers = CreateCustomer(self.stripe)
        self.records = CreateRecord(self.salesforce)
        self.drafts = CreateDraftOrder(self.shopify)

    async def create_customer(self, key: str, params: JsonDict) -> JsonDict:
        return {"id": str((await keyed(self.customers, key, params))["id"])}

    async def create_record(self, key: str, params: JsonDict) -> JsonDict:
        return {"id": (await keyed(self.records, key, params)).id}

    async def create_draft_order(self, key: str, params: JsonDict) -> JsonDict:
        return {"id": str((await keyed(self.drafts, key, params)).draft["id"])}

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


RUN_OPTIONS: RunOptions[JsonDict] = RunOptions(type_hint=dict)
"""Each step's `ctx.run`: its result is a JSON object."""


def raw_saga_workflow(clients: RawClients) -> restate.Workflow:
    workflow = restate.Workflow(RAW_SAGA)

    @workflow.main(name="run")
    async def run(ctx: WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        contact_step, invoice_step, notify_step = plan["steps"]
        contact = await ctx.run_typed("contact", _terminal_on_rejection, RUN_OPTIONS, clients.create_contact,
                                      forward_key(run_id, "contact", CONTACT), contact_step["params"])
        invoice = await ctx.run_typed("invoice", _terminal_on_rejection, RUN_OPTIONS, clients.create_invoice,
                                      forward_key(run_id, "invoice", INVOICE), invoice_step["params"])
        text = f"Invoice {invoice['number']} is on its way to {contact['email']}"
        message = await ctx.run_typed("notify", _terminal_on_rejection, RUN_OPTIONS, clients.post_message,
                                      forward_key(run_id, "notify", NOTIFY), notify_step["params"]["channel"], text)
        return {"run_id": run_id, "status": "committed", "contact": contact, "invoice": invoice, "message": message}

    return workflow


def raw_five_workflow(clients: RawClients) -> restate.Workflow:
    workflow = restate.Workflow(RAW_FIVE_SAGA)

    @workflow.main(name="run")
    async def run(ctx: WorkflowContext, plan: JsonDict) -> JsonDict:
        run_id = ctx.key()
        steps = {step["id"]: step for step in plan["steps"]}
        done: JsonDict = {}
        for step_id, write in (("contact", clients.create_contact), ("customer", clients.create_customer),
                               ("account", clients.create_record), ("draft", clients.create_draft_order)):
            step = steps[step_id]
            done[step_id] = await ctx.run_typed(step_id, _terminal_on_rejection, RUN_OPTIONS, write,
                                                forward_key(run_id, step_id, step["action"]), step["params"])
        invoice = steps["invoice"]
        params = {**invoice["params"], "customer": done["customer"]["id"]}  # its `$from`, inline
        done["invoice"] = await ctx.run_typed("invoice", _terminal_on_rejection, RUN_OPTIONS, clients.create_invoice,
                                              forward_key(run_id, "invoice", INVOICE), params)
        return {"run_id": run_id, "status": "committed", **done}

    return workflow


def sequential_saga_run() -> restate.Workflow:
    """Pivot's own `SagaRun`, served again as `SequentialSagaRun` with plans run one step at a time
    (explicit groups aside), as they ran before steps overlapped: the "before" of the latency bench."""
    catalog = build_catalog(approvers=configured_approvers() or frozenset())
    return saga_run_workflow(catalog, InboxGate(catalog), webhook_alert(), name=SEQUENTIAL_SAGA_RUN,
                             schedule=one_at_a_time)


def create_bench_app(extra: Sequence[restate.Workflow] = ()) -> RestateAppT:
    """Pivot's services exactly as `pivot.services.app.create_app` builds them, plus `RawSaga`,
    `RawFiveSaga`, `SequentialSagaRun` (and `extra`)."""
    clients = RawClients()
    return create_app([raw_saga_workflow(clients), raw_five_workflow(clients), sequential_saga_run(), *extra])


app = create_bench_app()
