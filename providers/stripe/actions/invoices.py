"""Invoices: create_invoice (customer, lines, finalize; undone by void) and send_invoice.

create_invoice is three kinds of request, each keyed from the step key, one key per endpoint
(`key`, `key:lineN`, `key:finalize`), so a replay after a lost answer is a Stripe replay, never a
second invoice: `write` creates the draft, `complete` adds the lines still missing and finalizes
(a draft an earlier attempt left, found by `metadata[pivot_key]` in the customer's invoices, is
finished the same way). The read-back is by id and verifies amount, customer, currency and status.

Paid meanwhile: if the invoice was paid before the saga unwinds, the compensation does *not*
refund. The payment is the customer's act, not the saga's, and giving money back is a business
decision; it raises `CompensationConflict` (expected open, current paid, with the amount paid),
changes nothing, and the saga ends `needs_attention` for a person to decide.

send_invoice emails the invoice once: the invoice's `metadata[pivot_send_key]` records the send,
the send's Idempotency-Key guards the gap between the send and that mark.
"""

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import JsonDict, RetryBudget
from pivot.compensations.errors import CompensationConflict
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.stripe.actions.base import (
    AFTER_PIVOT_BUDGET,
    CreateAction,
    StripeAction,
    StripeObject,
    prerequisite,
)
from pivot.providers.stripe.actions.customers import CreateCustomer
from pivot.providers.stripe.actions.lookup import KEY_METADATA, SEND_METADATA, carries, in_metadata, keyed
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


def _named(invoice: JsonDict) -> str:
    return str(invoice.get("number") or invoice["id"])


class CreateInvoice(CreateAction[CreateInvoiceParams]):
    name: ClassVar[str] = "stripe.create_invoice"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    pivot_eligible: ClassVar[bool] = True
    params = CreateInvoiceParams
    carrier: ClassVar[KeyCarrier] = in_metadata(
        "Idempotency-Key header (step key; ':lineN' and ':finalize' for the "
        "sub-requests) and metadata[pivot_key] for lookup")
    readback: ClassVar[str] = "GET /v1/invoices/{id}: customer, amount_due, currency, status=open, metadata key"
    compensation: ClassVar[str] = (
        "void if finalized, delete if draft; paid meanwhile: no refund, a CompensationConflict (the payment is the "
        "customer's; refunding it is a person's decision)")
    not_run: ClassVar[str] = "No Stripe invoice was created"
    collection: ClassVar[str] = "/v1/invoices"
    listed_by: ClassVar[str] = "customer"
    noun: ClassVar[str] = "invoice"

    async def write(self, params: CreateInvoiceParams, key: str) -> StripeObject:
        body: dict[str, Any] = {
            "customer": params.customer,
            "collection_method": params.collection_method,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": params.description,
            "metadata": {KEY_METADATA: key},
        }
        if params.collection_method == "send_invoice":
            body["days_until_due"] = params.days_until_due
        draft = await self.client.post("/v1/invoices", body, idempotency_key=key)
        return await self.complete(params, key, draft)

    async def complete(self, params: CreateInvoiceParams, key: str, found: StripeObject) -> StripeObject:
        """A draft gets the lines it still lacks, then is finalized; a finalized invoice is done."""
        if found.get("status") != "draft":
            return found
        invoice_id = found["id"]
        # Lines are added in order, so a draft that already has k lines has lines 0..k-1.
        present = len(found.get("lines", {}).get("data", []))
        for index, line in enumerate(params.lines[present:], start=present):
            await self.client.post(
                "/v1/invoiceitems",
                {"customer": params.customer, "invoice": invoice_id, "amount": line.amount,
                 "currency": line.currency, "description": line.description, "metadata": {KEY_METADATA: key}},
                idempotency_key=f"{key}:line{index}",
            )
        return await self.client.post(f"/v1/invoices/{invoice_id}/finalize", {}, idempotency_key=f"{key}:finalize")

    def verify(self, params: CreateInvoiceParams, fresh: StripeObject) -> JsonDict:
        invoice_id = str(fresh["id"])
        expected = {"customer": params.customer, "amount_due": params.total, "currency": params.currency,
                    "status": "open"}
        actual = {field: fresh.get(field) for field in expected}
        if actual != expected:
            raise Mismatch(f"Stripe invoice {invoice_id} does not match the plan", expected=expected, actual=actual)
        return {
            "ref": f"stripe:invoice/{invoice_id}",
            "id": invoice_id,
            "number": fresh.get("number"),
            "status": fresh["status"],
            "amount_due": fresh["amount_due"],
            "currency": fresh["currency"],
            "customer": fresh["customer"],
            "hosted_invoice_url": fresh.get("hosted_invoice_url"),
        }

    def describe(self, result: JsonDict) -> str:
        amount = format_amount(int(result["amount_due"]), str(result["currency"]))
        return f"Stripe invoice {_named(result)} for {amount} was finalized"

    def is_undone(self, found: StripeObject) -> bool:
        return super().is_undone(found) or found.get("status") == "void"

    def already_undone(self, found: StripeObject) -> str:
        return f"draft invoice {found['id']} is deleted" if found.get("deleted") else f"invoice {_named(found)} is void"

    async def undo(self, params: CreateInvoiceParams, found: StripeObject, result: JsonDict | None, key: str) -> str:
        """Void a finalized invoice, delete a draft; a paid invoice is a conflict (see the module)."""
        invoice_id, status = found["id"], found.get("status")
        if status == "draft":
            await self.client.delete(f"/v1/invoices/{invoice_id}")
            return f"draft invoice {invoice_id} deleted"
        if status in {"open", "uncollectible"}:
            await self.client.post(f"/v1/invoices/{invoice_id}/void", {}, idempotency_key=key)
            return f"invoice {_named(found)} voided"
        paid = format_amount(int(found.get("amount_paid") or 0), str(found.get("currency") or "usd"))
        raise CompensationConflict(
            f"invoice {_named(found)} was {status} ({paid}) before the saga could void it; the payment is "
            "the customer's, so Pivot neither voids nor refunds it: a person must decide",
            expected={"status": "open"},
            current={"status": status, "amount_paid": found.get("amount_paid")},
        )

    def describe_undo(self, result: JsonDict) -> str:
        return f"Stripe invoice {_named(result)} was voided"

    async def example(self) -> CreateInvoiceParams:
        """One line of 12.00 USD for a customer made for the purpose."""
        customer = await prerequisite(CreateCustomer(self.client))
        return CreateInvoiceParams(customer=str(customer["id"]), description="made by pivot conformance",
                                   lines=[InvoiceLine(amount=1200, currency="usd", description="Conformance")])

    async def tamper(self, params: CreateInvoiceParams, found: StripeObject) -> None:
        """The customer pays the invoice (recorded as paid outside Stripe, as a bank transfer is): the
        undo must refuse to void it."""
        await self.client.post(f"/v1/invoices/{found['id']}/pay", {"paid_out_of_band": True},
                               idempotency_key=f"conformance-tamper-{found['id']}")


class SendInvoice(StripeAction[SendInvoiceParams]):
    name: ClassVar[str] = "stripe.send_invoice"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE
    params = SendInvoiceParams
    carrier: ClassVar[KeyCarrier] = in_metadata(
        "Idempotency-Key header (step key on /send, ':mark' on the metadata update) "
        "and metadata[pivot_send_key] on the invoice, checked before sending", SEND_METADATA)
    readback: ClassVar[str] = "GET /v1/invoices/{id}: status open or paid, metadata[pivot_send_key]"
    compensation: ClassVar[str] = "none: the customer already has the email (runs after the pivot)"
    not_run: ClassVar[str] = "No Stripe invoice was emailed"
    retry: ClassVar[RetryBudget] = AFTER_PIVOT_BUDGET

    async def lookup(self, params: SendInvoiceParams, key: str) -> StripeObject | None:
        """The invoice, if its metadata records this step's send."""
        invoice = await self.client.get(f"/v1/invoices/{params.invoice}")
        return invoice if invoice is not None and carries(key, SEND_METADATA)(invoice) else None

    async def write(self, params: SendInvoiceParams, key: str) -> StripeObject:
        """Send, then mark. A crash between the two is covered by the send's Idempotency-Key: the
        retry's send is a Stripe replay, not a second email (within Stripe's 24 h window)."""
        await self.client.post(f"/v1/invoices/{params.invoice}/send", {}, idempotency_key=key)
        return await self.client.post(f"/v1/invoices/{params.invoice}", {"metadata": {SEND_METADATA: key}},
                                      idempotency_key=f"{key}:mark")

    async def read_back(self, params: SendInvoiceParams, key: str, written: StripeObject) -> StripeObject | None:
        fresh = await self.client.get(f"/v1/invoices/{params.invoice}")
        return None if fresh is None else keyed(fresh, key, f"Stripe invoice {params.invoice}", SEND_METADATA)

    def verify(self, params: SendInvoiceParams, fresh: StripeObject) -> JsonDict:
        if fresh.get("id") != params.invoice or fresh.get("status") not in SENDABLE:
            raise Mismatch(f"Stripe invoice {params.invoice} does not show the send",
                           expected={"id": params.invoice, "status": list(SENDABLE)},
                           actual={"id": fresh.get("id"), "status": fresh.get("status")})
        return {"ref": f"stripe:invoice/{params.invoice}", "id": params.invoice, "number": fresh.get("number"),
                "status": fresh["status"], "sent": True}

    def describe(self, result: JsonDict) -> str:
        return f"Stripe invoice {_named(result)} was emailed to the customer"

    async def example(self) -> SendInvoiceParams:
        """An open invoice made for the purpose."""
        invoice = await prerequisite(CreateInvoice(self.client))
        return SendInvoiceParams(invoice=str(invoice["id"]))
