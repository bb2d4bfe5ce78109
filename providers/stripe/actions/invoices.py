"""Invoices: create_invoice (customer, lines, finalize; undone by void) and send_invoice.

The forward write is one idempotent routine: find the invoice that carries the step's key in
its metadata, create it only if absent, add the lines still missing, finalize, then read it
back and verify amount, customer, currency and status. Every POST carries a key derived from
the step key, one per endpoint (`key`, `key:lineN`, `key:finalize`), so a replay after a lost
answer is a Stripe replay, never a second invoice.

Paid meanwhile: if the invoice was paid before the saga unwinds, the compensation does *not*
refund. The payment is the customer's act, not the saga's, and giving money back is a business
decision; it raises `CompensationConflict` (expected open, current paid, with the amount paid),
changes nothing, and the saga ends `needs_attention` for a person to decide.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.stripe.actions.lookup import KEY_METADATA, SEND_METADATA, carries
from pivot.providers.stripe.client import StripeClient
from pivot.providers.stripe.money import format_amount

INVOICE_ID = r"^in_[A-Za-z0-9]{1,64}$"
SENDABLE = ("open", "paid")


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=99_999_999, description="In the currency's minor unit (cents)")
    currency: str = Field(pattern=r"^[a-z]{3}$")
    description: str = Field(min_length=1, max_length=500)


class CreateInvoiceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(pattern=r"^cus_[A-Za-z0-9]{1,64}$")
    lines: list[InvoiceLine] = Field(min_length=1, max_length=50)
    collection_method: Literal["send_invoice", "charge_automatically"] = "send_invoice"
    days_until_due: int = Field(default=30, ge=1, le=365)
    description: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _one_currency(self) -> "CreateInvoiceParams":
        if len({line.currency for line in self.lines}) != 1:
            raise ValueError("all lines of an invoice must use one currency")
        return self

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def currency(self) -> str:
        return self.lines[0].currency


class SendInvoiceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice: str = Field(pattern=INVOICE_ID, description="A finalized send_invoice invoice, e.g. from create_invoice")


class InvoiceActions:
    """create_invoice, its void, and send_invoice, bound to one client."""

    def __init__(self, client: StripeClient):
        self.client = client

    async def find_invoice(self, customer: str, key: str) -> dict[str, Any] | None:
        """The invoice whose metadata carries `key`."""
        return await self.client.find("/v1/invoices", {"customer": customer}, carries(key))

    async def create_invoice(self, params: CreateInvoiceParams, keys: StepKeys) -> JsonDict:
        # No list lookup first: Stripe's own idempotency is the lookup by key here. A retry with the
        # same Idempotency-Key within Stripe's 24 h retention replays the first answer (the invoice
        # it created), and every later request carries its own sub-key, so nothing can double.
        # Listing the customer's invoices before every create cost O(invoices) per step; the list
        # lookup stays where it is needed, in the compensation, which may run days later.
        body: dict[str, Any] = {
            "customer": params.customer,
            "collection_method": params.collection_method,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": params.description,
            "metadata": {KEY_METADATA: keys.forward},
        }
        if params.collection_method == "send_invoice":
            body["days_until_due"] = params.days_until_due
        invoice = await self.client.post("/v1/invoices", body, idempotency_key=keys.forward)
        invoice_id = invoice["id"]
        if invoice.get("status") == "draft":
            # Lines are added in order, so a draft that already has k lines has lines 0..k-1.
            present = len(invoice.get("lines", {}).get("data", []))
            for index, line in enumerate(params.lines[present:], start=present):
                await self.client.post(
                    "/v1/invoiceitems",
                    {"customer": params.customer, "invoice": invoice_id, "amount": line.amount,
                     "currency": line.currency, "description": line.description,
                     "metadata": {KEY_METADATA: keys.forward}},
                    idempotency_key=keys.sub(f"line{index}"),
                )
            await self.client.post(f"/v1/invoices/{invoice_id}/finalize", {},
                                   idempotency_key=keys.sub("finalize"))
        return await self.verify_invoice(invoice_id, params, keys)

    async def verify_invoice(self, invoice_id: str, params: CreateInvoiceParams, keys: StepKeys) -> JsonDict:
        invoice = await self.client.get(f"/v1/invoices/{invoice_id}")
        if invoice is None:
            raise ProviderRejected("readback_mismatch", f"Stripe invoice {invoice_id} is gone after the write")
        expected = {"customer": params.customer, "amount_due": params.total, "currency": params.currency,
                    "status": "open"}
        actual = {field: invoice.get(field) for field in expected}
        if actual != expected or invoice.get("metadata", {}).get(KEY_METADATA) != keys.forward:
            raise ProviderRejected("readback_mismatch", f"Stripe invoice {invoice_id} does not match the plan",
                                   {"expected": expected, "actual": actual})
        return {
            "ref": f"stripe:invoice/{invoice_id}",
            "id": invoice_id,
            "number": invoice.get("number"),
            "status": invoice["status"],
            "amount_due": invoice["amount_due"],
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        }

    async def void_invoice(
        self, params: CreateInvoiceParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        """Void a finalized invoice, delete a draft; a paid invoice is a conflict (see the module)."""
        if result is not None:
            invoice = await self.client.get(f"/v1/invoices/{result['id']}")
        else:
            invoice = await self.find_invoice(params.customer, keys.forward)
        if invoice is None or invoice.get("deleted"):
            if result is None:
                return CompensationReport(state="nothing_to_undo", detail="Stripe holds no invoice for this step")
            return CompensationReport(state="compensated", detail=f"draft invoice {result['id']} is deleted")
        invoice_id, status, number = invoice["id"], invoice.get("status"), invoice.get("number")
        if status == "draft":
            await self.client.delete(f"/v1/invoices/{invoice_id}")
            return CompensationReport(state="compensated", detail=f"draft invoice {invoice_id} deleted")
        if status in {"open", "uncollectible"}:
            await self.client.post(f"/v1/invoices/{invoice_id}/void", {}, idempotency_key=keys.compensation)
            return CompensationReport(state="compensated", detail=f"invoice {number or invoice_id} voided")
        if status == "void":
            return CompensationReport(state="compensated", detail=f"invoice {number or invoice_id} is void")
        paid = format_amount(int(invoice.get("amount_paid") or 0), str(invoice.get("currency") or "usd"))
        raise CompensationConflict(
            f"invoice {number or invoice_id} was {status} ({paid}) before the saga could void it; the payment is "
            "the customer's, so Pivot neither voids nor refunds it: a person must decide",
            expected={"status": "open"},
            current={"status": status, "amount_paid": invoice.get("amount_paid")},
        )

    async def send_invoice(self, params: SendInvoiceParams, keys: StepKeys) -> JsonDict:
        """Email the invoice once: the invoice's metadata records the send, the key guards the gap.

        A crash between the send and the metadata mark is covered by the send's Idempotency-Key:
        the retry's send is a Stripe replay, not a second email (within Stripe's 24 h window)."""
        invoice = await self.client.get(f"/v1/invoices/{params.invoice}")
        if invoice is None:
            raise ProviderRejected("resource_missing", f"Stripe has no invoice {params.invoice}")
        if not carries(keys.forward, SEND_METADATA)(invoice):
            await self.client.post(f"/v1/invoices/{params.invoice}/send", {}, idempotency_key=keys.forward)
            await self.client.post(f"/v1/invoices/{params.invoice}", {"metadata": {SEND_METADATA: keys.forward}},
                                   idempotency_key=keys.sub("mark"))
        fresh = await self.client.get(f"/v1/invoices/{params.invoice}")
        if fresh is None or fresh.get("status") not in SENDABLE or not carries(keys.forward, SEND_METADATA)(fresh):
            raise ProviderRejected("readback_mismatch", f"Stripe invoice {params.invoice} does not show the send",
                                   {"status": (fresh or {}).get("status")})
        return {"ref": f"stripe:invoice/{params.invoice}", "id": params.invoice, "number": fresh.get("number"),
                "status": fresh["status"], "sent": True}


def describe_invoice(result: JsonDict) -> str:
    amount = format_amount(int(result["amount_due"]), str(result["currency"]))
    return f"Stripe invoice {result.get('number') or result['id']} for {amount} was finalized"


def describe_void(result: JsonDict) -> str:
    return f"Stripe invoice {result.get('number') or result['id']} was voided"


def describe_send(result: JsonDict) -> str:
    return f"Stripe invoice {result.get('number') or result['id']} was emailed to the customer"
