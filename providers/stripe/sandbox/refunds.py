"""Refunds against a PaymentIntent's (or a charge's) captured amount.

The refundable balance is enforced as on Stripe: a refund may not exceed what was captured minus
what is already refunded (400 `amount_too_large`), a fully refunded charge answers 400
`charge_already_refunded`, and an intent without a successful charge cannot be refunded.
Refunds in the sandbox succeed at once. An update changes metadata only, as on Stripe.
"""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, Store, StripeCall, new_id, now
from pivot.providers.stripe.sandbox.errors import StripeError, invalid, missing
from pivot.providers.stripe.sandbox.forms import EXPAND, Params, merge_metadata
from pivot.providers.stripe.sandbox.listing import LIST_PARAMS, list_page
from pivot.providers.stripe.sandbox.payments import Payments

REFUND_CREATE = frozenset({
    "amount", "charge", "currency", "customer", "expand", "instructions_email", "metadata", "origin",
    "payment_intent", "reason", "refund_application_fee", "reverse_transfer",
})
REFUND_UPDATE = frozenset({"expand", "metadata"})
REFUND_LIST = LIST_PARAMS | {"charge", "created", "payment_intent"}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def refundable(charge: JsonDict) -> int:
    """What a charge still has to give back."""
    return int(charge["amount_captured"]) - int(charge["amount_refunded"])


class Refunds:
    """Create, retrieve and list refunds."""

    def __init__(self, store: Store, payments: Payments) -> None:
        self.store = store
        self.payments = payments

    def create(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, REFUND_CREATE)
        intent_id = params.text("payment_intent") or None
        charge_id = params.text("charge") or None
        amount = params.integer("amount", minimum=1)
        reason = params.choice("reason", REFUND_REASONS)
        metadata = params.metadata()
        expand = params.expand()
        if intent_id is None and charge_id is None:
            raise invalid("One of the following params should be provided for this request: payment_intent or "
                          "charge.", param="payment_intent", code="parameter_missing")
        if intent_id is not None and charge_id is not None:
            raise invalid("You may only specify one of these parameters: charge, payment_intent.",
                          param="charge", code="parameters_exclusive")

        # Execution begins: from here on, errors are business errors and are saved.
        if intent_id is not None:
            intent = self.payments.find(intent_id, param="payment_intent", status=400)
            charge = self.store.state.charges.get(intent["latest_charge"] or "")
            if intent["status"] != "succeeded" or charge is None:
                raise StripeError(400, f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                                       "refund.", code="charge_not_refundable", param="payment_intent")
        else:
            charge = self.payments.charge(charge_id or "", status=400)
            if not charge["captured"]:
                raise StripeError(400, f"Charge {charge['id']} has not been captured and cannot be refunded.",
                                  code="charge_not_refundable", param="charge")
        remaining = refundable(charge)
        if remaining <= 0:
            raise StripeError(400, f"Charge {charge['id']} has already been refunded.",
                              code="charge_already_refunded", param="charge" if charge_id else "payment_intent")
        refund_amount = remaining if amount is None else amount
        if refund_amount > remaining:
            raise StripeError(
                400,
                f"Refund amount ({refund_amount}) is greater than unrefunded amount on charge ({remaining}).",
                code="amount_too_large", param="amount",
            )
        refund_id = new_id("re_")
        refund: JsonDict = {
            "id": refund_id,
            "object": "refund",
            "amount": refund_amount,
            "balance_transaction": new_id("txn_"),
            "charge": charge["id"],
            "created": now(),
            "currency": charge["currency"],
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.store.state.refunds[refund_id] = refund
        self.store.state.created(refund_id)
        charge["amount_refunded"] = int(charge["amount_refunded"]) + refund_amount
        charge["refunded"] = refundable(charge) == 0
        self.store.ledger.record("create", "refund", refund_id, call.idempotency_key,
                                 {"amount": refund_amount, "charge": charge["id"],
                                  "payment_intent": charge["payment_intent"]})
        return 200, self._render(refund, expand)

    def _render(self, refund: JsonDict, expand: list[str] | None = None) -> JsonDict:
        body = dict(refund)
        if expand and "charge" in expand:
            body["charge"] = dict(self.store.state.charges[refund["charge"]])
        return body

    def retrieve(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND)
        refund = self.store.state.refunds.get(call.path_params["id"])
        if refund is None:
            raise missing("refund", call.path_params["id"], param="refund")
        return 200, self._render(refund, params.expand())

    def update(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, REFUND_UPDATE)
        metadata = params.metadata()
        expand = params.expand()
        refund = self.store.state.refunds.get(call.path_params["id"])
        if refund is None:
            raise missing("refund", call.path_params["id"], param="refund")
        if metadata is not None:
            refund["metadata"] = merge_metadata(refund["metadata"], metadata,
                                                clear_all=call.params.get("metadata") == "")
        self.store.ledger.record("update", "refund", refund["id"], call.idempotency_key,
                                 {"fields": ["metadata"] if metadata is not None else []})
        return 200, self._render(refund, expand)

    def list_refunds(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, REFUND_LIST)
        intent_id = params.text("payment_intent") or None
        charge_id = params.text("charge") or None
        state = self.store.state
        matching = [r for r in state.refunds.values()
                    if (intent_id is None or r["payment_intent"] == intent_id)
                    and (charge_id is None or r["charge"] == charge_id)]
        return 200, list_page(state, matching, params, kind="refund", url="/v1/refunds", render=self._render)
