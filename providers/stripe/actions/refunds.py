"""refund: a retryable step after the pivot; Stripe refunds cannot be undone.

Found again by listing the payment's refunds and matching `metadata[pivot_key]`; created with the
step key as Idempotency-Key. Without an amount, Stripe refunds whatever is still refundable;
the request's parameters stay identical across retries either way, so a retry under the same
key is always a clean replay. Read back: amount (when given) and a live status.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.stripe.actions.lookup import KEY_METADATA, carries
from pivot.providers.stripe.client import StripeClient
from pivot.providers.stripe.money import format_amount

LIVE_STATUSES = frozenset({"succeeded", "pending", "requires_action"})
PAGES = 5


class RefundParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_intent: str = Field(pattern=r"^pi_[A-Za-z0-9]{1,64}$")
    amount: int | None = Field(default=None, ge=1, le=99_999_999,
                               description="Minor units; omitted = everything still refundable")
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] = "requested_by_customer"


async def live_refunds(client: StripeClient, intent_id: str) -> list[dict[str, Any]]:
    """Every refund of the payment that has not failed or been canceled (all pages, bounded)."""
    refunds: list[dict[str, Any]] = []
    starting_after: str | None = None
    for _ in range(PAGES):
        page = await client.get("/v1/refunds", {"payment_intent": intent_id, "limit": 100,
                                                "starting_after": starting_after})
        data = [r for r in (page or {}).get("data") or [] if isinstance(r, dict)]
        refunds += [r for r in data if r.get("status") in LIVE_STATUSES]
        if not (page or {}).get("has_more") or not data:
            break
        starting_after = str(data[-1]["id"])
    return refunds


class RefundActions:
    def __init__(self, client: StripeClient):
        self.client = client

    async def refund(self, params: RefundParams, keys: StepKeys) -> JsonDict:
        refund = await self.client.find("/v1/refunds", {"payment_intent": params.payment_intent},
                                        carries(keys.forward))
        if refund is None:
            refund = await self.client.post(
                "/v1/refunds",
                {"payment_intent": params.payment_intent, "amount": params.amount, "reason": params.reason,
                 "metadata": {KEY_METADATA: keys.forward}},
                idempotency_key=keys.forward,
            )
        refund_id = str(refund["id"])
        fresh = await self.client.get(f"/v1/refunds/{refund_id}")
        if fresh is None:
            raise ProviderRejected("readback_mismatch", f"Stripe refund {refund_id} is gone after the write")
        if fresh.get("status") not in LIVE_STATUSES:
            raise ProviderRejected("refund_failed", f"Stripe refund {refund_id} is {fresh.get('status')}",
                                   {"failure_reason": fresh.get("failure_reason")})
        amount_ok = params.amount is None or fresh.get("amount") == params.amount
        if not amount_ok or fresh.get("payment_intent") != params.payment_intent or not carries(keys.forward)(fresh):
            raise ProviderRejected("readback_mismatch", f"Stripe refund {refund_id} does not match the plan",
                                   {"expected": {"amount": params.amount, "payment_intent": params.payment_intent},
                                    "actual": {"amount": fresh.get("amount"),
                                               "payment_intent": fresh.get("payment_intent")}})
        return {"ref": f"stripe:refund/{refund_id}", "id": refund_id, "amount": fresh["amount"],
                "currency": fresh.get("currency"), "status": fresh["status"], "payment_intent": params.payment_intent}


def describe_refund(result: JsonDict) -> str:
    amount = format_amount(int(result["amount"]), str(result.get("currency") or "usd"))
    return f"Stripe refunded {amount} of {result['payment_intent']} ({result['id']})"
