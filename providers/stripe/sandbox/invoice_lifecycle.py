"""The invoice state machine: draft -> open (finalize) -> paid | void | uncollectible, and send.

Finalizing assigns the number from the customer's prefix and sequence; a zero-amount invoice is
paid at once, as on Stripe. `send` (the email to the customer) is recorded in the ledger as an
effect, because that is what cannot be undone.
"""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, Store, StripeCall, now
from pivot.providers.stripe.sandbox.errors import StripeError
from pivot.providers.stripe.sandbox.forms import EXPAND, Params
from pivot.providers.stripe.sandbox.invoice_views import InvoiceViews

INVOICE_FINALIZE = frozenset({"auto_advance", "expand"})
INVOICE_PAY = frozenset({"expand", "forgive", "mandate", "off_session", "paid_out_of_band", "payment_method",
                         "source"})


class InvoiceLifecycle:
    """finalize, void, pay, mark_uncollectible and send."""

    def __init__(self, store: Store, views: InvoiceViews) -> None:
        self.store = store
        self.views = views

    def _finalize(self, invoice: JsonDict, idempotency_key: str | None) -> None:
        """draft -> open, with a number; a zero-amount invoice is marked paid at once, as Stripe does."""
        customer = self.store.state.customers[invoice["customer"]]
        sequence = int(customer["next_invoice_sequence"])
        customer["next_invoice_sequence"] = sequence + 1
        stamp = now()
        invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        invoice["status"] = "open"
        invoice["status_transitions"]["finalized_at"] = stamp
        invoice["effective_at"] = stamp
        invoice["hosted_invoice_url"] = f"https://invoice.stripe.com/i/acct_sandbox/test_{invoice['id']}"
        invoice["invoice_pdf"] = f"https://pay.stripe.com/invoice/acct_sandbox/test_{invoice['id']}/pdf"
        invoice["ending_balance"] = 0
        if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
            invoice["due_date"] = stamp + 86400 * int(invoice["_days_until_due"] or 0)
        amount_due = sum(int(item["amount"]) for item in self.views.items_of(invoice["id"]))
        if amount_due <= 0:
            invoice.update({"status": "paid", "paid": True})
            invoice["status_transitions"]["paid_at"] = stamp
        detail = {"number": invoice["number"], "status": invoice["status"], "amount_due": amount_due}
        self.store.ledger.record("finalize", "invoice", invoice["id"], idempotency_key, detail)

    def finalize_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, INVOICE_FINALIZE)
        auto_advance = params.boolean("auto_advance")
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        if invoice["status"] != "draft":
            raise StripeError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        self._finalize(invoice, call.idempotency_key)
        return 200, self.views.render(invoice, expand)

    def void_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND)
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        if invoice["status"] not in ("open", "uncollectible"):
            hint = " Delete the draft instead." if invoice["status"] == "draft" else ""
            raise StripeError(
                400,
                f"You can only void invoices that are open or uncollectible; this invoice is "
                f"{invoice['status']}.{hint}",
                code="invoice_not_editable",
            )
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = now()
        self.store.ledger.record("void", "invoice", invoice["id"], call.idempotency_key,
                                 {"number": invoice["number"]})
        return 200, self.views.render(invoice, expand)

    def pay_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        """Pay in full. The sandbox has no cards: a payment attempt always succeeds."""
        params = Params(call.params, INVOICE_PAY)
        out_of_band = params.boolean("paid_out_of_band")
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        if invoice["status"] == "paid":
            raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] == "void":
            raise StripeError(400, "This invoice has been voided and cannot be paid.",
                              code="invoice_not_editable")
        if invoice["status"] == "draft":  # Stripe finalizes a draft before attempting payment
            self._finalize(invoice, call.idempotency_key)
        if invoice["status"] != "paid":
            amount_due = sum(int(item["amount"]) for item in self.views.items_of(invoice["id"]))
            stamp = now()
            invoice.update({"status": "paid", "paid": True, "amount_paid": amount_due, "attempted": True,
                            "attempt_count": 0 if out_of_band else 1, "paid_out_of_band": bool(out_of_band)})
            invoice["status_transitions"]["paid_at"] = stamp
            self.store.ledger.record("pay", "invoice", invoice["id"], call.idempotency_key,
                                     {"amount_paid": amount_due, "paid_out_of_band": bool(out_of_band)})
        return 200, self.views.render(invoice, expand)

    def mark_uncollectible(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND)
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        if invoice["status"] != "open":
            raise StripeError(400, f"You can only mark open invoices as uncollectible; this invoice is "
                                   f"{invoice['status']}.", code="invoice_not_editable")
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = now()
        self.store.ledger.record("mark_uncollectible", "invoice", invoice["id"], call.idempotency_key)
        return 200, self.views.render(invoice, expand)

    def send_invoice(self, call: StripeCall) -> tuple[int, JsonDict]:
        """Email the invoice to the customer. Only finalized `send_invoice` invoices can be sent."""
        params = Params(call.params, EXPAND)
        expand = params.expand()
        invoice = self.views.find(call.path_params["id"])
        if invoice["collection_method"] != "send_invoice":
            raise StripeError(400, "You can only manually send an invoice if its collection method is "
                                   "'send_invoice'.", code="invoice_not_editable")
        if invoice["status"] in ("draft", "void"):
            raise StripeError(400, f"You can't send an invoice that is {invoice['status']}; finalize a draft "
                                   "first.", code="invoice_not_editable")
        invoice["_sent_count"] = int(invoice.get("_sent_count") or 0) + 1
        self.store.ledger.record("send", "invoice", invoice["id"], call.idempotency_key,
                                 {"number": invoice["number"], "to": invoice["customer_email"]})
        return 200, self.views.render(invoice, expand)
