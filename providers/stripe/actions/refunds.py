"""refund: a retryable step after the pivot; Stripe refunds cannot be undone.

Found again by listing the payment's refunds and matching `metadata[pivot_key]`; created with the
step key as Idempotency-Key. Without an amount, Stripe refunds whatever is still refundable;
the request's parameters stay identical across retries either way, so a retry under the same
key is always a clean replay. Read back by id: amount (when given) and a live status.
"""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import JsonDict, RetryBudget
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.stripe.actions.base import AFTER_PIVOT_BUDGET, CreateAction, StripeObject, prerequisite
from pivot.providers.stripe.actions.charges import Charge
from pivot.providers.stripe.actions.lookup import KEY_METADATA, LIVE_REFUND_STATUSES, in_metadata
from pivot.providers.stripe.money import format_amount


class RefundParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_intent: str = Field(pattern=r"^pi_[A-Za-z0-9]{1,64}$")
    amount: int | None = Field(default=None, ge=1, le=99_999_999,
                               description="Minor units; omitted = everything still refundable")
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] = "requested_by_customer"


class Refund(CreateAction[RefundParams]):
    name: ClassVar[str] = "stripe.refund"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.RETRYABLE
    params = RefundParams
    carrier: ClassVar[KeyCarrier] = in_metadata(
        "Idempotency-Key header (step key) and metadata[pivot_key], found by listing "
        "the payment's refunds")
    readback: ClassVar[str] = "GET /v1/refunds/{id}: amount (when given), payment_intent, status succeeded or pending"
    compensation: ClassVar[str] = "none: a refund cannot be taken back (runs after the pivot)"
    not_run: ClassVar[str] = "No Stripe refund was made"
    retry: ClassVar[RetryBudget] = AFTER_PIVOT_BUDGET
    collection: ClassVar[str] = "/v1/refunds"
    listed_by: ClassVar[str] = "payment_intent"
    noun: ClassVar[str] = "refund"

    async def write(self, params: RefundParams, key: str) -> StripeObject:
        return await self.client.post(
            "/v1/refunds",
            {"payment_intent": params.payment_intent, "amount": params.amount, "reason": params.reason,
             "metadata": {KEY_METADATA: key}},
            idempotency_key=key,
        )

    def verify(self, params: RefundParams, fresh: StripeObject) -> JsonDict:
        refund_id = str(fresh["id"])
        if fresh.get("status") not in LIVE_REFUND_STATUSES:
            raise ProviderRejected("refund_failed", f"Stripe refund {refund_id} is {fresh.get('status')}",
                                   {"failure_reason": fresh.get("failure_reason")})
        amount_ok = params.amount is None or fresh.get("amount") == params.amount
        if not amount_ok or fresh.get("payment_intent") != params.payment_intent:
            raise Mismatch(f"Stripe refund {refund_id} does not match the plan",
                           expected={"amount": params.amount, "payment_intent": params.payment_intent},
                           actual={"amount": fresh.get("amount"), "payment_intent": fresh.get("payment_intent")})
        return {"ref": f"stripe:refund/{refund_id}", "id": refund_id, "amount": fresh["amount"],
                "currency": fresh.get("currency"), "status": fresh["status"], "payment_intent": params.payment_intent}

    def describe(self, result: JsonDict) -> str:
        amount = format_amount(int(result["amount"]), str(result.get("currency") or "usd"))
        return f"Stripe refunded {amount} of {result['payment_intent']} ({result['id']})"

    async def example(self) -> RefundParams:
        """A part of a payment made for the purpose (a charge of 50.00 USD)."""
        payment = await prerequisite(Charge(self.client))
        return RefundParams(payment_intent=str(payment["id"]), amount=1000)
