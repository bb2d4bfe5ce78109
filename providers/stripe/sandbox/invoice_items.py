"""Invoice items: the lines of a draft invoice (or pending items of a customer).

Create, retrieve, update (description and metadata, while the item is unattached or on a draft,
as on Stripe) and delete."""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, Store, StripeCall, new_id, now
from pivot.providers.stripe.sandbox.customers import Customers
from pivot.providers.stripe.sandbox.errors import StripeError, invalid, missing
from pivot.providers.stripe.sandbox.forms import EXPAND, Params, merge_metadata
from pivot.providers.stripe.sandbox.invoice_views import InvoiceViews

INVOICEITEM_CREATE = frozenset({
    "amount", "currency", "customer", "description", "discountable", "discounts", "expand", "invoice",
    "metadata", "period", "price", "price_data", "quantity", "subscription", "tax_behavior", "tax_code",
    "tax_rates", "unit_amount", "unit_amount_decimal",
})
INVOICEITEM_UPDATE = frozenset({"description", "expand", "metadata"})
"""The subset of Stripe's update parameters the sandbox implements."""


class InvoiceItems:
    """Create, retrieve and delete invoice items."""

    def __init__(self, store: Store, customers: Customers, views: InvoiceViews) -> None:
        self.store = store
        self.customers = customers
        self.views = views

    def create_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICEITEM_CREATE)
        customer_id = params.text("customer", required=True) or ""
        invoice_id = params.text("invoice") or None
        amount = params.integer("amount")
        unit_amount = params.integer("unit_amount")
        quantity = params.integer("quantity", minimum=0)
        currency = params.currency()
        description = params.text("description") or None
        metadata = params.metadata()
        discountable = params.boolean("discountable")
        expand = params.expand()
        price = params.text("price") or None
        if amount is not None and (unit_amount is not None or price is not None):
            other = "unit_amount" if unit_amount is not None else "price"
            raise invalid(f"You may only specify one of these parameters: amount, {other}.",
                           param=other, code="parameters_exclusive")
        if amount is not None and quantity not in (None, 1):
            raise invalid("You cannot specify `quantity` together with `amount`; use `unit_amount` instead.",
                           param="quantity")
        if amount is None and unit_amount is None and price is None and not params.has("price_data"):
            raise invalid("You must specify either `amount`, `price`, `price_data` or `unit_amount`.",
                           param="amount", code="parameter_missing")

        customer = self.customers.live(customer_id, param="customer", status=400)
        if price is not None:
            raise missing("price", price, param="price", status=400)
        if params.has("price_data"):
            raise StripeError(400, "price_data is not supported by the Pivot sandbox; use amount or "
                              "unit_amount.", param="price_data")
        invoice: JsonDict | None = None
        if invoice_id is not None:
            invoice = self.views.find(invoice_id, param="invoice", status=400)
            if invoice["customer"] != customer_id:
                raise StripeError(400, f"The invoice {invoice_id} does not belong to customer {customer_id}.",
                                  param="invoice")
            if invoice["status"] != "draft":
                raise StripeError(
                    400,
                    f"You can only add invoice items to draft invoices; invoice {invoice_id} is "
                    f"{invoice['status']}.",
                    code="invoice_not_editable", param="invoice",
                )
        target_currency = invoice["currency"] if invoice is not None else (customer["currency"] or currency)
        currency = currency or target_currency or "usd"
        if invoice is not None and currency != invoice["currency"]:
            raise StripeError(
                400,
                f"The currency of this invoice item ({currency}) does not match the currency of invoice "
                f"{invoice['id']} ({invoice['currency']}).",
                param="currency",
            )
        if unit_amount is not None:
            quantity = 1 if quantity is None else quantity
            total = unit_amount * quantity
        else:
            quantity, unit_amount, total = 1, amount, int(amount or 0)
        stamp = now()
        item_id = new_id("ii_")
        item: JsonDict = {
            "id": item_id,
            "object": "invoiceitem",
            "amount": total,
            "currency": currency,
            "customer": customer_id,
            "date": stamp,
            "description": description,
            "discountable": True if discountable is None else discountable,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "period": {"end": stamp, "start": stamp},
            "price": None,
            "proration": False,
            "quantity": quantity,
            "subscription": None,
            "tax_rates": [],
            "test_clock": None,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
        }
        self.store.state.add_item(item)
        if customer["currency"] is None:
            customer["currency"] = currency
        self.store.ledger.record("create", "invoiceitem", item_id, call.idempotency_key,
                                 {"amount": total, "currency": currency, "invoice": invoice_id})
        return 200, self._render_item(item, expand)

    def _render_item(self, item: JsonDict, expand: list[str] | None = None) -> JsonDict:
        body = dict(item)
        if expand and "invoice" in expand and item["invoice"] in self.store.state.invoices:
            body["invoice"] = self.views.render(self.store.state.invoices[item["invoice"]])
        return body

    def get_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND)
        item = self.store.state.items.get(call.path_params["id"])
        if item is None:
            raise missing("invoiceitem", call.path_params["id"])
        return 200, self._render_item(item, params.expand())

    def update_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICEITEM_UPDATE)
        metadata = params.metadata()
        expand = params.expand()
        item = self.store.state.items.get(call.path_params["id"])
        if item is None:
            raise missing("invoiceitem", call.path_params["id"])
        invoice = self.store.state.invoices.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise StripeError(400, f"Invoice items can only be updated while they are unattached or attached to a "
                              f"draft invoice; invoice {invoice['id']} is {invoice['status']}.",
                              code="invoice_not_editable")
        changed: list[str] = []
        if params.has("description"):
            item["description"] = params.text("description") or None
            changed.append("description")
        if metadata is not None:
            item["metadata"] = merge_metadata(item["metadata"], metadata, clear_all=call.params.get("metadata") == "")
            changed.append("metadata")
        self.store.ledger.record("update", "invoiceitem", item["id"], call.idempotency_key, {"fields": changed})
        return 200, self._render_item(item, expand)

    def delete_invoice_item(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        item = self.store.state.items.get(call.path_params["id"])
        if item is None:
            raise missing("invoiceitem", call.path_params["id"])
        invoice = self.store.state.invoices.get(item["invoice"]) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise StripeError(
                400,
                "Invoice items can only be deleted while they are unattached or attached to a draft invoice; "
                f"invoice {invoice['id']} is {invoice['status']}.",
                code="invoice_not_editable",
            )
        self.store.state.remove_item(item["id"])
        self.store.ledger.record("delete", "invoiceitem", item["id"], call.idempotency_key,
                                 {"invoice": item["invoice"]})
        return 200, {"id": item["id"], "object": "invoiceitem", "deleted": True}

