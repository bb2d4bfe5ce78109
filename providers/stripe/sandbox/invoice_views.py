"""How an invoice looks from outside: lines and totals derived from its attached items.

The stored invoice keeps only what is set on it; `InvoiceViews.render` adds `lines`, the amounts
and optional expansions, so every endpoint that returns an invoice shows the same derived view.
"""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, Store, new_id
from pivot.providers.stripe.sandbox.errors import missing

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


class InvoiceViews:
    """Lookup and rendering of invoices and their lines."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, invoice_id: str, *, param: str = "id", status: int = 404) -> JsonDict:
        invoice = self.store.state.invoices.get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id, param=param, status=status)
        return invoice

    def items_of(self, invoice_id: str) -> list[JsonDict]:
        """Attached items in the order they were added (an index lookup, not a scan of every item)."""
        return self.store.state.items_of(invoice_id)

    def line(self, item: JsonDict) -> JsonDict:
        line_id = self.store.state.line_ids.setdefault(item["id"], new_id("il_"))
        return {
            "id": line_id,
            "object": "line_item",
            "amount": item["amount"],
            "amount_excluding_tax": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": item["discountable"],
            "discounts": [],
            "invoice_item": item["id"],
            "livemode": False,
            "metadata": dict(item["metadata"]),
            "period": dict(item["period"]),
            "price": None,
            "proration": False,
            "proration_details": {"credited_items": None},
            "quantity": item["quantity"],
            "subscription": None,
            "tax_amounts": [],
            "tax_rates": [],
            "type": "invoiceitem",
            "unit_amount_excluding_tax": None if item["unit_amount"] is None else str(item["unit_amount"]),
        }

    def render(self, invoice: JsonDict, expand: list[str] | None = None) -> JsonDict:
        """The public invoice: stored fields plus lines and totals derived from attached items."""
        lines = [self.line(item) for item in self.items_of(invoice["id"])]
        subtotal = sum(int(line["amount"]) for line in lines)
        body = {key: value for key, value in invoice.items() if not key.startswith("_")}
        amount_due = subtotal
        settled = invoice["status"] in ("paid", "void")
        body.update({
            "amount_due": amount_due,
            "amount_remaining": 0 if settled else amount_due - invoice["amount_paid"],
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "total": subtotal,
            "total_excluding_tax": subtotal,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice['id']}/lines",
            },
        })
        if expand and "customer" in expand:
            customer_id = invoice["customer"]
            body["customer"] = (
                {"id": customer_id, "object": "customer", "deleted": True}
                if customer_id in self.store.state.deleted_customers
                else self.store.state.customers.get(customer_id, customer_id)
            )
        return body
