"""Invoice endpoints that edit a draft or read invoices: create, retrieve, update, delete, list.

The state machine's transitions (finalize, void, pay, send) live in `invoice_lifecycle`.
"""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, Store, StripeCall, new_id, now
from pivot.providers.stripe.sandbox.customers import Customers
from pivot.providers.stripe.sandbox.errors import StripeError, invalid, missing
from pivot.providers.stripe.sandbox.forms import EXPAND, Params, merge_metadata
from pivot.providers.stripe.sandbox.invoice_views import INVOICE_STATUSES, InvoiceViews
from pivot.providers.stripe.sandbox.listing import LIST_PARAMS, list_page

INVOICE_CREATE = frozenset({
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax", "collection_method",
    "currency", "custom_fields", "customer", "days_until_due", "default_payment_method", "default_source",
    "default_tax_rates", "description", "discounts", "due_date", "effective_at", "expand", "footer",
    "from_invoice", "metadata", "on_behalf_of", "payment_settings", "pending_invoice_items_behavior",
    "rendering_options", "shipping_cost", "shipping_details", "statement_descriptor", "subscription",
    "transfer_data",
})
INVOICE_UPDATE = frozenset({
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax", "collection_method",
    "custom_fields", "days_until_due", "default_payment_method", "default_source", "default_tax_rates",
    "description", "discounts", "due_date", "effective_at", "expand", "footer", "metadata", "on_behalf_of",
    "payment_settings", "rendering_options", "shipping_cost", "shipping_details", "statement_descriptor",
    "transfer_data",
})
INVOICE_LIST = LIST_PARAMS | {"collection_method", "created", "customer", "due_date", "status", "subscription"}
INVOICE_LINES_LIST = frozenset({"ending_before", "expand", "limit", "starting_after"})


class Invoices:
    """The draft-editing and read endpoints of invoices."""

    def __init__(self, store: Store, customers: Customers, views: InvoiceViews) -> None:
        self.store = store
        self.customers = customers
        self.views = views

    def create_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_CREATE)
        customer_id = params.text("customer", required=True) or ""
        collection_method = params.choice("collection_method", ("charge_automatically", "send_invoice"))
        collection_method = collection_method or "charge_automatically"
        days_until_due = params.integer("days_until_due", minimum=0, maximum=730)
        due_date = params.integer("due_date", minimum=0)
        if collection_method == "send_invoice" and days_until_due is None and due_date is None:
            raise invalid(
                "Missing required param: days_until_due. Invoices with `collection_method=send_invoice` need "
                "either `days_until_due` or `due_date`.",
                param="days_until_due",
                code="parameter_missing",
            )
        has_due = days_until_due is not None or due_date is not None
        if collection_method == "charge_automatically" and has_due:
            param = "days_until_due" if days_until_due is not None else "due_date"
            raise invalid(
                f"You can only set `{param}` if `collection_method` is `send_invoice`.", param=param
            )
        behavior = params.choice(
            "pending_invoice_items_behavior", ("exclude", "include", "include_and_require")
        )
        auto_advance = params.boolean("auto_advance")
        currency = params.currency()
        metadata = params.metadata()
        expand = params.expand()
        description = params.text("description") or None
        footer = params.text("footer") or None
        statement_descriptor = params.text("statement_descriptor", max_length=22) or None

        # Execution begins: from here on, errors are business errors and are saved.
        customer = self.customers.live(customer_id, param="customer", status=400)
        stamp = now()
        invoice_id = new_id("in_")
        currency = currency or customer["currency"] or "usd"
        invoice: JsonDict = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Pivot Sandbox",
            "account_tax_ids": None,
            "amount_paid": 0,
            "amount_shipping": 0,
            "application": None,
            "application_fee_amount": None,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": bool(auto_advance),
            "automatic_tax": {"enabled": False, "status": None},
            "billing_reason": "manual",
            "charge": None,
            "collection_method": collection_method,
            "created": stamp,
            "currency": currency,
            "custom_fields": None,
            "customer": customer_id,
            "customer_address": customer["address"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "customer_phone": customer["phone"],
            "customer_shipping": None,
            "customer_tax_exempt": customer["tax_exempt"],
            "customer_tax_ids": [],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": description,
            "discount": None,
            "discounts": [],
            "due_date": due_date,
            "_days_until_due": days_until_due,
            "effective_at": None,
            "ending_balance": None,
            "footer": footer,
            "from_invoice": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "last_finalization_error": None,
            "latest_revision": None,
            "livemode": False,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "next_payment_attempt": None,
            "number": None,
            "on_behalf_of": None,
            "paid": False,
            "paid_out_of_band": False,
            "payment_intent": None,
            "payment_settings": {"default_mandate": None, "payment_method_options": None,
                                 "payment_method_types": None},
            "period_end": stamp,
            "period_start": stamp,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "quote": None,
            "receipt_number": None,
            "rendering_options": None,
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": 0,
            "statement_descriptor": statement_descriptor,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                                   "voided_at": None},
            "subscription": None,
            "subscription_details": {"metadata": None},
            "subtotal": 0,
            "subtotal_excluding_tax": 0,
            "tax": None,
            "test_clock": None,
            "total": 0,
            "total_discount_amounts": [],
            "total_excluding_tax": 0,
            "total_tax_amounts": [],
            "transfer_data": None,
            "webhooks_delivered_at": stamp,
        }
        pending = self.store.state.pending_items(customer_id, currency)
        if behavior == "include_and_require" and not pending:
            raise StripeError(400, "Nothing to invoice for customer", code="invoice_no_customer_line_items",
                              param="customer")
        self.store.state.invoices[invoice_id] = invoice
        self.store.state.created(invoice_id)
        if behavior in ("include", "include_and_require"):
            for item in pending:
                self.store.state.attach_item(item, invoice_id)
        self.store.ledger.record("create", "invoice", invoice_id, call.idempotency_key,
                                 {"customer": customer_id, "status": "draft", "currency": currency})
        return 200, self.views.render(invoice, expand)

    def get_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND)
        return 200, self.views.render(self.views.find(call.path_params["id"]), params.expand())

    def update_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_UPDATE)
        metadata = params.metadata()
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        changed: list[str] = []
        draft_only = ("collection_method", "days_until_due", "due_date")
        if invoice["status"] != "draft":
            for name in draft_only:
                if params.has(name):
                    raise StripeError(
                        400,
                        f"You can only update `{name}` on draft invoices; this invoice is "
                        f"{invoice['status']}.",
                        code="invoice_not_editable", param=name,
                    )
        editable_after_void = ("description", "footer", "auto_advance")
        if invoice["status"] == "void" and any(params.has(name) for name in editable_after_void):
            raise StripeError(400, "This invoice has been voided and cannot be updated.",
                              code="invoice_not_editable")
        for name in ("description", "footer"):
            if params.has(name):
                invoice[name] = params.text(name) or None
                changed.append(name)
        if params.has("auto_advance"):
            invoice["auto_advance"] = bool(params.boolean("auto_advance"))
            changed.append("auto_advance")
        if params.has("collection_method"):
            invoice["collection_method"] = params.choice(
                "collection_method", ("charge_automatically", "send_invoice")) or invoice["collection_method"]
            changed.append("collection_method")
        if params.has("days_until_due"):
            invoice["_days_until_due"] = params.integer("days_until_due", minimum=0, maximum=730)
            changed.append("days_until_due")
        if params.has("due_date"):
            invoice["due_date"] = params.integer("due_date", minimum=0)
            changed.append("due_date")
        if metadata is not None:
            invoice["metadata"] = merge_metadata(invoice["metadata"], metadata,
                                                  clear_all=call.params.get("metadata") == "")
            changed.append("metadata")
        self.store.ledger.record("update", "invoice", invoice["id"], call.idempotency_key, {"fields": changed})
        return 200, self.views.render(invoice, expand)

    def delete_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        invoice = self.views.find(call.path_params["id"])
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                f"You can only delete draft invoices. This invoice is {invoice['status']}; finalized "
                "invoices must be voided instead.",
                code="invoice_not_editable",
            )
        for item in self.views.items_of(invoice["id"]):
            self.store.state.remove_item(item["id"])
        del self.store.state.invoices[invoice["id"]]
        self.store.ledger.record("delete", "invoice", invoice["id"], call.idempotency_key)
        return 200, {"id": invoice["id"], "object": "invoice", "deleted": True}

    def list_invoices(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_LIST)
        customer = params.text("customer") or None
        status = params.choice("status", INVOICE_STATUSES)
        collection_method = params.choice("collection_method", ("charge_automatically", "send_invoice"))
        matching = [
            inv for inv in self.store.state.invoices.values()
            if (not customer or inv["customer"] == customer)
            and (status is None or inv["status"] == status)
            and (collection_method is None or inv["collection_method"] == collection_method)
        ]
        return 200, list_page(self.store.state, matching, params, kind="invoice", url="/v1/invoices",
                              render=self.views.render)

    def list_invoice_lines(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_LINES_LIST)
        limit = params.integer("limit", minimum=1, maximum=100) or 10
        starting_after = params.text("starting_after") or None
        invoice = self.views.find(call.path_params["id"])
        lines = [self.views.line(item) for item in self.views.items_of(invoice["id"])]
        if starting_after is not None:
            ids = [line["id"] for line in lines]
            if starting_after not in ids:
                raise missing("line item", starting_after, param="starting_after", status=400)
            lines = lines[ids.index(starting_after) + 1:]
        return 200, {
            "object": "list",
            "data": lines[:limit],
            "has_more": len(lines) > limit,
            "url": f"/v1/invoices/{invoice['id']}/lines",
        }
