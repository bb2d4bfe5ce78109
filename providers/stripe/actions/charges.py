"""charge: a PaymentIntent created and confirmed; undone by cancel or by a bounded refund.

Forward: find the intent carrying the step key in its metadata (listing the customer's intents),
create it if absent (Idempotency-Key = step key), confirm it (`key:confirm`, a second endpoint
and so a second key), read it back and verify amount, currency, customer, amount_received and
status succeeded. A decline is terminal (the intent stays in requires_payment_method with
`last_payment_error`; a retry finds it and reports the decline again instead of re-charging).

Compensation:
- still cancellable (requires_* or processing): cancel it (`compkey:cancel`), nothing was taken;
- succeeded: refund exactly what is still refundable of `amount_received`, never more: the
  refunds already made (by anyone) are read first, a refund keyed by the compensation key
  (Idempotency-Key and `metadata[pivot_key]`) is recognised as ours, and a fully refunded
  payment is reported as such. If the balance changes between the read and our refund, Stripe
  refuses the excess and the compensation reports a conflict instead of guessing.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.providers.stripe.actions.lookup import KEY_METADATA, carries
from pivot.providers.stripe.actions.refunds import live_refunds
from pivot.providers.stripe.client import StripeClient
from pivot.providers.stripe.money import format_amount

CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "processing",
                         "requires_capture"})
REFUND_RACE_CODES = frozenset({"amount_too_large", "charge_already_refunded"})


class ChargeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=50, le=99_999_999, description="In the currency's minor unit (cents)")
    currency: str = Field(pattern=r"^[a-z]{3}$")
    customer: str = Field(pattern=r"^cus_[A-Za-z0-9]{1,64}$")
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,64}$")
    description: str | None = Field(default=None, max_length=500)


class ChargeActions:
    def __init__(self, client: StripeClient):
        self.client = client

    async def find_intent(self, customer: str, key: str) -> dict[str, Any] | None:
        return await self.client.find("/v1/payment_intents", {"customer": customer}, carries(key))

    async def charge(self, params: ChargeParams, keys: StepKeys) -> JsonDict:
        intent = await self.find_intent(params.customer, keys.forward)
        if intent is None:
            intent = await self.client.post(
                "/v1/payment_intents",
                {"amount": params.amount, "currency": params.currency, "customer": params.customer,
                 "payment_method": params.payment_method, "description": params.description,
                 "capture_method": "automatic", "metadata": {KEY_METADATA: keys.forward}},
                idempotency_key=keys.forward,
            )
        intent_id, status = str(intent["id"]), intent.get("status")
        if status == "requires_payment_method" and intent.get("last_payment_error"):
            error = intent["last_payment_error"]
            raise ProviderRejected(str(error.get("code") or "card_declined"),
                                   f"Stripe declined: {error.get('message') or 'the card was declined'}",
                                   {"decline_code": error.get("decline_code"), "payment_intent": intent_id})
        if status in {"requires_confirmation", "requires_payment_method"}:
            intent = await self.client.post(f"/v1/payment_intents/{intent_id}/confirm",
                                            {"payment_method": params.payment_method},
                                            idempotency_key=keys.sub("confirm"))
            status = intent.get("status")
        if status == "requires_action":
            raise ProviderRejected("requires_action", f"PaymentIntent {intent_id} needs the customer to "
                                   "authenticate (3-D Secure); an unattended saga cannot complete it")
        if status == "processing":
            raise ProviderUnavailable(f"Stripe PaymentIntent {intent_id} is still processing")
        if status == "canceled":
            raise ProviderRejected("payment_canceled", f"Stripe PaymentIntent {intent_id} was canceled before it "
                                   "succeeded", {"payment_intent": intent_id})
        return await self.verify_intent(intent_id, params, keys)

    async def verify_intent(self, intent_id: str, params: ChargeParams, keys: StepKeys) -> JsonDict:
        intent = await self.client.get(f"/v1/payment_intents/{intent_id}")
        if intent is None:
            raise ProviderRejected("readback_mismatch", f"Stripe PaymentIntent {intent_id} is gone after the write")
        expected = {"amount": params.amount, "currency": params.currency, "customer": params.customer,
                    "amount_received": params.amount, "status": "succeeded"}
        actual = {field: intent.get(field) for field in expected}
        if actual != expected or not carries(keys.forward)(intent):
            raise ProviderRejected("readback_mismatch", f"Stripe PaymentIntent {intent_id} does not match the plan",
                                   {"expected": expected, "actual": actual})
        return {"ref": f"stripe:payment_intent/{intent_id}", "id": intent_id, **actual,
                "latest_charge": intent.get("latest_charge")}

    async def undo_charge(self, params: ChargeParams, keys: StepKeys, result: JsonDict | None) -> CompensationReport:
        if result is not None:
            intent = await self.client.get(f"/v1/payment_intents/{result['id']}")
        else:
            intent = await self.find_intent(params.customer, keys.forward)
        if intent is None:
            return CompensationReport(state="nothing_to_undo", detail="Stripe holds no PaymentIntent for this step")
        intent_id = str(intent["id"])
        if intent.get("status") in CANCELLABLE:
            try:
                await self.client.post(f"/v1/payment_intents/{intent_id}/cancel",
                                       {"cancellation_reason": "abandoned"},
                                       idempotency_key=f"{keys.compensation}:cancel")
            except ProviderRejected as rejected:
                if rejected.info.code != "payment_intent_unexpected_state":
                    raise
                intent = await self.client.get(f"/v1/payment_intents/{intent_id}") or intent  # it moved on
            else:
                return CompensationReport(state="compensated",
                                          detail=f"PaymentIntent {intent_id} canceled; nothing was charged")
        if intent.get("status") == "canceled":
            return CompensationReport(state="compensated", detail=f"PaymentIntent {intent_id} is canceled")
        if intent.get("status") != "succeeded":
            raise ProviderUnavailable(f"Stripe PaymentIntent {intent_id} is {intent.get('status')}; waiting")
        return await self._refund_rest(intent, keys)

    async def _refund_rest(self, intent: dict[str, Any], keys: StepKeys) -> CompensationReport:
        """Refund what is still refundable of the amount received, once, under the compensation key."""
        intent_id, currency = str(intent["id"]), str(intent["currency"])
        refunds = await live_refunds(self.client, intent_id)
        ours = next((r for r in refunds if carries(keys.compensation)(r)), None)
        if ours is not None:
            amount = format_amount(int(ours["amount"]), currency)
            return CompensationReport(state="compensated",
                                      detail=f"refunded {amount} of PaymentIntent {intent_id} ({ours['id']})")
        already = sum(int(r["amount"]) for r in refunds)
        refundable = int(intent.get("amount_received") or 0) - already
        if refundable <= 0:
            others = ", ".join(str(r["id"]) for r in refunds)
            return CompensationReport(state="compensated",
                                      detail=f"PaymentIntent {intent_id} was already fully refunded ({others})")
        try:
            refund = await self.client.post(
                "/v1/refunds",
                {"payment_intent": intent_id, "amount": refundable, "reason": "requested_by_customer",
                 "metadata": {KEY_METADATA: keys.compensation}},
                idempotency_key=keys.compensation,
            )
        except ProviderRejected as rejected:
            if rejected.info.code not in REFUND_RACE_CODES:
                raise
            now_refunded = sum(int(r["amount"]) for r in await live_refunds(self.client, intent_id))
            left = int(intent.get("amount_received") or 0) - now_refunded
            if left <= 0:
                return CompensationReport(state="compensated",
                                          detail=f"PaymentIntent {intent_id} was fully refunded by others meanwhile")
            raise CompensationConflict(
                f"the refundable balance of PaymentIntent {intent_id} changed while Pivot was refunding it",
                expected={"refundable": refundable}, current={"refundable": left},
            ) from None
        fresh = await self.client.get(f"/v1/refunds/{refund['id']}")
        if fresh is None or fresh.get("amount") != refundable or fresh.get("status") not in {"succeeded", "pending"}:
            raise ProviderRejected("readback_mismatch", f"Stripe refund {refund['id']} does not match",
                                   {"expected": refundable, "actual": (fresh or {}).get("amount"),
                                    "status": (fresh or {}).get("status")})
        partial = f" (the rest, {format_amount(already, currency)}, was refunded by others)" if already else ""
        return CompensationReport(
            state="compensated",
            detail=f"refunded {format_amount(refundable, currency)} of PaymentIntent {intent_id} "
                   f"({refund['id']}){partial}",
        )


def describe_charge(result: JsonDict) -> str:
    return f"Stripe charged {format_amount(int(result['amount']), str(result['currency']))} ({result['id']})"


def describe_undo_charge(result: JsonDict) -> str:
    return f"Stripe payment {result['id']} was canceled or refunded"
