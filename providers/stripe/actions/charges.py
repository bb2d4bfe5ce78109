"""charge: a PaymentIntent created and confirmed; undone by cancel or by a bounded refund.

Forward: find the intent carrying the step key in its metadata (listing the customer's intents),
create it if absent (Idempotency-Key = step key), confirm it (`key:confirm`, a second endpoint
and so a second key), read it back by id and verify amount, currency, customer, amount_received
and status succeeded. A decline is terminal (the intent stays in requires_payment_method with
`last_payment_error`; a retry finds it and reports the decline again instead of re-charging).

Compensation:
- still cancellable (requires_* or processing): cancel it (`compkey:cancel`), nothing was taken;
- succeeded: refund exactly what is still refundable of `amount_received`, never more: the
  refunds already made (by anyone) are read first, a refund keyed by the compensation key
  (Idempotency-Key and `metadata[pivot_key]`) is recognised as ours, and a fully refunded
  payment is reported as such. If the balance changes between the read and our refund, Stripe
  refuses the excess and the compensation reports a conflict instead of guessing.
"""

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.stripe.actions.base import CreateAction, StripeObject, prerequisite
from pivot.providers.stripe.actions.customers import CreateCustomer
from pivot.providers.stripe.actions.lookup import KEY_METADATA, carries, in_metadata, live_refunds
from pivot.providers.stripe.money import format_amount

CANCELLABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action", "processing",
                         "requires_capture"})
REFUND_RACE_CODES = frozenset({"amount_too_large", "charge_already_refunded"})
REFUNDS = "pivot_refunds"
"""Where `recall` puts a succeeded intent's live refunds (not a Stripe field)."""


class ChargeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=50, le=99_999_999, description="In the currency's minor unit (cents)")
    currency: str = Field(pattern=r"^[a-z]{3}$")
    customer: str = Field(pattern=r"^cus_[A-Za-z0-9]{1,64}$")
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,64}$")
    description: str | None = Field(default=None, max_length=500)


class Charge(CreateAction[ChargeParams]):
    name: ClassVar[str] = "stripe.charge"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    pivot_eligible: ClassVar[bool] = True
    params = ChargeParams
    carrier: ClassVar[KeyCarrier] = in_metadata(
        "Idempotency-Key header (step key on create, ':confirm' on confirm) and "
        "metadata[pivot_key], found by listing the customer's PaymentIntents")
    readback: ClassVar[str] = ("GET /v1/payment_intents/{id}: amount, currency, customer, amount_received = amount, "
                               "status=succeeded, metadata key")
    compensation: ClassVar[str] = (
        "cancel if still cancellable (requires_* or processing); once succeeded, refund exactly what is still "
        "refundable of amount_received after the refunds already made, never more; the refund carries the "
        "compensation key (Idempotency-Key and metadata) so a rerun finds it")
    not_run: ClassVar[str] = "No Stripe payment was taken"
    collection: ClassVar[str] = "/v1/payment_intents"
    listed_by: ClassVar[str] = "customer"
    noun: ClassVar[str] = "PaymentIntent"
    after_tamper: ClassVar[Literal["conflict", "undone"]] = "undone"
    """A refund by someone else is theirs to keep: the undo refunds only the rest."""

    async def write(self, params: ChargeParams, key: str) -> StripeObject:
        intent = await self.client.post(
            "/v1/payment_intents",
            {"amount": params.amount, "currency": params.currency, "customer": params.customer,
             "payment_method": params.payment_method, "description": params.description,
             "capture_method": "automatic", "metadata": {KEY_METADATA: key}},
            idempotency_key=key,
        )
        return await self.complete(params, key, intent)

    async def complete(self, params: ChargeParams, key: str, found: StripeObject) -> StripeObject:
        """Confirm an intent not yet confirmed; report a decline, 3-D Secure or a cancel as final."""
        intent, intent_id, status = found, str(found["id"]), found.get("status")
        if status == "requires_payment_method" and intent.get("last_payment_error"):
            error = intent["last_payment_error"]
            raise ProviderRejected(str(error.get("code") or "card_declined"),
                                   f"Stripe declined: {error.get('message') or 'the card was declined'}",
                                   {"decline_code": error.get("decline_code"), "payment_intent": intent_id})
        if status in {"requires_confirmation", "requires_payment_method"}:
            intent = await self.client.post(f"/v1/payment_intents/{intent_id}/confirm",
                                            {"payment_method": params.payment_method},
                                            idempotency_key=f"{key}:confirm")
            status = intent.get("status")
        if status == "requires_action":
            raise ProviderRejected("requires_action", f"PaymentIntent {intent_id} needs the customer to "
                                   "authenticate (3-D Secure); an unattended saga cannot complete it")
        if status == "processing":
            raise ProviderUnavailable(f"Stripe PaymentIntent {intent_id} is still processing")
        if status == "canceled":
            raise ProviderRejected("payment_canceled", f"Stripe PaymentIntent {intent_id} was canceled before it "
                                   "succeeded", {"payment_intent": intent_id})
        return intent

    def verify(self, params: ChargeParams, fresh: StripeObject) -> JsonDict:
        intent_id = str(fresh["id"])
        expected = {"amount": params.amount, "currency": params.currency, "customer": params.customer,
                    "amount_received": params.amount, "status": "succeeded"}
        actual = {field: fresh.get(field) for field in expected}
        if actual != expected:
            raise Mismatch(f"Stripe PaymentIntent {intent_id} does not match the plan", expected=expected,
                           actual=actual)
        return {"ref": f"stripe:payment_intent/{intent_id}", "id": intent_id, **actual,
                "latest_charge": fresh.get("latest_charge")}

    def describe(self, result: JsonDict) -> str:
        return f"Stripe charged {format_amount(int(result['amount']), str(result['currency']))} ({result['id']})"

    async def recall(self, params: ChargeParams, key: str, result: JsonDict | None) -> StripeObject | None:
        """The intent, with its live refunds beside it (`pivot_refunds`) once it succeeded: a refunded
        payment shows only in its refunds, and an undo (or `pivot conformance`) must see it refunded."""
        found = await super().recall(params, key, result)
        if found is None or found.get("status") != "succeeded":
            return found
        return {**found, REFUNDS: await live_refunds(self.client, str(found["id"]))}

    def is_undone(self, found: StripeObject) -> bool:
        """Canceled, or refunded in full (by the saga's refund, or by others')."""
        refunded = sum(int(refund["amount"]) for refund in found.get(REFUNDS) or [])
        return (super().is_undone(found) or found.get("status") == "canceled"
                or (REFUNDS in found and refunded >= int(found.get("amount_received") or 0)))

    def already_undone(self, found: StripeObject) -> str:
        if found.get("deleted"):
            return super().already_undone(found)
        if found.get("status") == "canceled":
            return f"PaymentIntent {found['id']} is canceled"
        refunds = ", ".join(str(refund["id"]) for refund in found[REFUNDS])
        return f"PaymentIntent {found['id']} was already fully refunded ({refunds})"

    async def undo(self, params: ChargeParams, found: StripeObject, result: JsonDict | None, key: str) -> str:
        intent, intent_id = found, str(found["id"])
        if intent.get("status") in CANCELLABLE:
            try:
                await self.client.post(f"/v1/payment_intents/{intent_id}/cancel",
                                       {"cancellation_reason": "abandoned"}, idempotency_key=f"{key}:cancel")
            except ProviderRejected as rejected:
                if rejected.info.code != "payment_intent_unexpected_state":
                    raise
                intent = await self.client.get(f"/v1/payment_intents/{intent_id}") or intent  # it moved on
            else:
                return f"PaymentIntent {intent_id} canceled; nothing was charged"
        if intent.get("status") == "canceled":
            return f"PaymentIntent {intent_id} is canceled"
        if intent.get("status") != "succeeded":
            raise ProviderUnavailable(f"Stripe PaymentIntent {intent_id} is {intent.get('status')}; waiting")
        return await self._refund_rest(intent, key)

    async def _refund_rest(self, intent: StripeObject, key: str) -> str:
        """Refund what is still refundable of the amount received, once, under the compensation key."""
        intent_id, currency = str(intent["id"]), str(intent["currency"])
        refunds = await live_refunds(self.client, intent_id)
        ours = next((r for r in refunds if carries(key)(r)), None)
        if ours is not None:
            amount = format_amount(int(ours["amount"]), currency)
            return f"refunded {amount} of PaymentIntent {intent_id} ({ours['id']})"
        already = sum(int(r["amount"]) for r in refunds)
        refundable = int(intent.get("amount_received") or 0) - already
        if refundable <= 0:
            others = ", ".join(str(r["id"]) for r in refunds)
            return f"PaymentIntent {intent_id} was already fully refunded ({others})"
        try:
            refund = await self.client.post(
                "/v1/refunds",
                {"payment_intent": intent_id, "amount": refundable, "reason": "requested_by_customer",
                 "metadata": {KEY_METADATA: key}},
                idempotency_key=key,
            )
        except ProviderRejected as rejected:
            if rejected.info.code not in REFUND_RACE_CODES:
                raise
            now_refunded = sum(int(r["amount"]) for r in await live_refunds(self.client, intent_id))
            left = int(intent.get("amount_received") or 0) - now_refunded
            if left <= 0:
                return f"PaymentIntent {intent_id} was fully refunded by others meanwhile"
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
        return f"refunded {format_amount(refundable, currency)} of PaymentIntent {intent_id} ({refund['id']}){partial}"

    def describe_undo(self, result: JsonDict) -> str:
        return f"Stripe payment {result['id']} was canceled or refunded"

    async def example(self) -> ChargeParams:
        """50.00 USD from a customer made for the purpose, with Stripe's test card that succeeds."""
        customer = await prerequisite(CreateCustomer(self.client))
        return ChargeParams(amount=5000, currency="usd", customer=str(customer["id"]), payment_method="pm_card_visa",
                            description="made by pivot conformance")

    async def tamper(self, params: ChargeParams, found: StripeObject) -> None:
        """Refund a third of the payment outside the saga, as a support agent would: the undo must
        refund only the rest."""
        await self.client.post(
            "/v1/refunds", {"payment_intent": found["id"], "amount": max(1, int(found["amount_received"]) // 3),
                            "reason": "requested_by_customer"},
            idempotency_key=f"conformance-tamper-{found['id']}",
        )
