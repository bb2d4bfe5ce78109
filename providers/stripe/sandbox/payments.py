"""PaymentIntents and the charges they create, with Stripe's test payment methods.

The state machine follows Stripe: created without a payment method -> requires_payment_method,
with one -> requires_confirmation; confirming charges the card: `pm_card_visa` succeeds
(requires_capture with capture_method=manual), `pm_card_chargeDeclined` answers 402 card_error
card_declined and leaves the intent in requires_payment_method with `last_payment_error`,
`pm_card_authenticationRequired` stops in requires_action. Cancel works only from requires_* or
processing; a succeeded payment can only be refunded (see `refunds`). An update changes the
description and metadata (the subset of Stripe's update parameters the sandbox implements).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from pivot.providers.stripe.sandbox.common import JsonDict, Store, StripeCall, new_id, now
from pivot.providers.stripe.sandbox.customers import Customers
from pivot.providers.stripe.sandbox.errors import StripeError, invalid, missing
from pivot.providers.stripe.sandbox.forms import EXPAND, Params, merge_metadata
from pivot.providers.stripe.sandbox.listing import LIST_PARAMS, list_page

PI_CREATE = frozenset({
    "amount", "application_fee_amount", "automatic_payment_methods", "capture_method", "confirm",
    "confirmation_method", "currency", "customer", "description", "error_on_requires_action", "expand", "mandate",
    "mandate_data", "metadata", "off_session", "on_behalf_of", "payment_method", "payment_method_data",
    "payment_method_options", "payment_method_types", "radar_options", "receipt_email", "return_url",
    "setup_future_usage", "shipping", "statement_descriptor", "statement_descriptor_suffix", "transfer_data",
    "transfer_group", "use_stripe_sdk",
})
PI_CONFIRM = frozenset({
    "capture_method", "client_secret", "error_on_requires_action", "expand", "mandate", "mandate_data",
    "off_session", "payment_method", "payment_method_data", "payment_method_options", "payment_method_types",
    "radar_options", "receipt_email", "return_url", "setup_future_usage", "shipping", "use_stripe_sdk",
})
PI_UPDATE = frozenset({"description", "expand", "metadata"})
PI_CANCEL = frozenset({"cancellation_reason", "expand"})
PI_CAPTURE = frozenset({
    "amount_to_capture", "application_fee_amount", "expand", "metadata", "statement_descriptor",
    "statement_descriptor_suffix", "transfer_data",
})
PI_LIST = LIST_PARAMS | {"created", "customer"}
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCELLATION_REASONS = ("abandoned", "duplicate", "fraudulent", "requested_by_customer")
CANCELLABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
               "processing")
CONFIRMABLE = ("requires_confirmation", "requires_action", "requires_payment_method")
MIN_AMOUNT = 50
MAX_AMOUNT = 99_999_999


@dataclass(frozen=True)
class TestCard:
    """What a test payment method does when charged."""

    outcome: str  # "succeeds" | "declines" | "requires_action"
    brand: str
    last4: str
    decline_code: str | None = None


TEST_CARDS = MappingProxyType({
    "pm_card_visa": TestCard("succeeds", "visa", "4242"),
    "pm_card_mastercard": TestCard("succeeds", "mastercard", "4444"),
    "pm_card_chargeDeclined": TestCard("declines", "visa", "0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard("declines", "visa", "9995", "insufficient_funds"),
    "pm_card_authenticationRequired": TestCard("requires_action", "visa", "3184"),
})


def _unexpected_state(action: str, intent: JsonDict, allowed: tuple[str, ...]) -> StripeError:
    return StripeError(
        400,
        f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}. Only a "
        f"PaymentIntent with one of the following statuses may be {action}ed: {', '.join(allowed)}.",
        code="payment_intent_unexpected_state",
        extra={"payment_intent": {"id": intent["id"], "object": "payment_intent", "status": intent["status"]}},
    )


class Payments:
    """PaymentIntent endpoints and charge retrieval."""

    def __init__(self, store: Store, customers: Customers) -> None:
        self.store = store
        self.customers = customers

    # ----------------------------------------------------------------- lookup and rendering

    def find(self, intent_id: str, *, param: str = "intent", status: int = 404) -> JsonDict:
        intent = self.store.state.payment_intents.get(intent_id)
        if intent is None:
            raise missing("payment_intent", intent_id, param=param, status=status)
        return intent

    def charge(self, charge_id: str, *, param: str = "charge", status: int = 404) -> JsonDict:
        charge = self.store.state.charges.get(charge_id)
        if charge is None:
            raise missing("charge", charge_id, param=param, status=status)
        return charge

    def render(self, intent: JsonDict, expand: list[str] | None = None) -> JsonDict:
        body = dict(intent)
        if expand and "latest_charge" in expand and intent["latest_charge"]:
            body["latest_charge"] = dict(self.store.state.charges[intent["latest_charge"]])
        if expand and "customer" in expand and intent["customer"]:
            body["customer"] = self.store.state.customers.get(intent["customer"], intent["customer"])
        return body

    # ----------------------------------------------------------------- endpoints

    def create(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_CREATE)
        amount = params.integer("amount", maximum=MAX_AMOUNT)
        if amount is None:
            raise invalid("Missing required param: amount.", param="amount", code="parameter_missing")
        currency = params.currency()
        if currency is None:
            raise invalid("Missing required param: currency.", param="currency", code="parameter_missing")
        if amount < MIN_AMOUNT:
            raise invalid("Amount must be at least $0.50 usd", param="amount", code="amount_too_small")
        customer_id = params.text("customer") or None
        payment_method = params.text("payment_method") or None
        confirm = bool(params.boolean("confirm"))
        capture_method = params.choice("capture_method", CAPTURE_METHODS) or "automatic"
        metadata = params.metadata()
        description = params.text("description") or None
        receipt_email = params.text("receipt_email") or None
        expand = params.expand()

        # Execution begins: from here on, errors are business errors and are saved.
        if customer_id is not None:
            self.customers.live(customer_id, param="customer", status=400)
        if payment_method is not None and payment_method not in TEST_CARDS:
            raise missing("payment_method", payment_method, param="payment_method", status=400)
        intent_id = new_id("pi_")
        intent: JsonDict = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
            "confirmation_method": "automatic",
            "created": now(),
            "currency": currency,
            "customer": customer_id,
            "description": description,
            "invoice": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": {k: v for k, v in (metadata or {}).items() if v != ""},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": receipt_email,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.store.state.payment_intents[intent_id] = intent
        self.store.state.created(intent_id)
        self.store.ledger.record("create", "payment_intent", intent_id, call.idempotency_key,
                                 {"amount": amount, "currency": currency, "customer": customer_id})
        if confirm:
            self._attempt(intent, call.idempotency_key)
        return 200, self.render(intent, expand)

    def retrieve(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, EXPAND | {"client_secret"})
        return 200, self.render(self.find(call.path_params["id"]), params.expand())

    def list_intents(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_LIST)
        customer = params.text("customer") or None
        state = self.store.state
        matching = [pi for pi in state.payment_intents.values() if customer is None or pi["customer"] == customer]
        return 200, list_page(state, matching, params, kind="payment_intent", url="/v1/payment_intents",
                              render=self.render)

    def update(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_UPDATE)
        metadata = params.metadata()
        expand = params.expand()
        intent = self.find(call.path_params["id"])
        changed: list[str] = []
        if params.has("description"):
            intent["description"] = params.text("description") or None
            changed.append("description")
        if metadata is not None:
            intent["metadata"] = merge_metadata(intent["metadata"], metadata,
                                                clear_all=call.params.get("metadata") == "")
            changed.append("metadata")
        self.store.ledger.record("update", "payment_intent", intent["id"], call.idempotency_key,
                                 {"fields": changed})
        return 200, self.render(intent, expand)

    def confirm(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_CONFIRM)
        payment_method = params.text("payment_method") or None
        capture_method = params.choice("capture_method", CAPTURE_METHODS)
        expand = params.expand()
        intent = self.find(call.path_params["id"])
        if intent["status"] not in CONFIRMABLE:
            raise _unexpected_state("confirm", intent, CONFIRMABLE)
        if payment_method is not None:
            if payment_method not in TEST_CARDS:
                raise missing("payment_method", payment_method, param="payment_method", status=400)
            intent["payment_method"] = payment_method
        if capture_method is not None:
            intent["capture_method"] = capture_method
        if intent["payment_method"] is None:
            raise StripeError(
                400,
                "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the "
                "PaymentIntent with a payment method, pass `payment_method`.",
                code="payment_intent_unexpected_state", param="payment_method",
            )
        self._attempt(intent, call.idempotency_key)
        return 200, self.render(intent, expand)

    def cancel(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_CANCEL)
        reason = params.choice("cancellation_reason", CANCELLATION_REASONS)
        expand = params.expand()
        intent = self.find(call.path_params["id"])
        if intent["status"] not in CANCELLABLE:
            raise _unexpected_state("cancel", intent, CANCELLABLE)
        if intent["status"] == "requires_capture" and intent["latest_charge"]:
            charge = self.store.state.charges[intent["latest_charge"]]  # releasing the authorization
            charge.update({"refunded": True, "amount_refunded": charge["amount"]})
        intent.update({"status": "canceled", "canceled_at": now(), "cancellation_reason": reason,
                       "amount_capturable": 0, "next_action": None})
        self.store.ledger.record("cancel", "payment_intent", intent["id"], call.idempotency_key,
                                 {"reason": reason})
        return 200, self.render(intent, expand)

    def capture(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, PI_CAPTURE)
        amount = params.integer("amount_to_capture", minimum=1)
        expand = params.expand()
        intent = self.find(call.path_params["id"])
        if intent["status"] != "requires_capture":
            raise _unexpected_state("capture", intent, ("requires_capture",))
        captured = intent["amount"] if amount is None else amount
        if captured > intent["amount_capturable"]:
            raise StripeError(400, "The amount to capture must be less than or equal to the amount capturable.",
                              code="amount_too_large", param="amount_to_capture")
        charge = self.store.state.charges[intent["latest_charge"]]
        charge.update({"captured": True, "amount_captured": captured})
        intent.update({"status": "succeeded", "amount_received": captured, "amount_capturable": 0})
        self.store.ledger.record("capture", "payment_intent", intent["id"], call.idempotency_key,
                                 {"amount": captured})
        return 200, self.render(intent, expand)

    def retrieve_charge(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, EXPAND)
        return 200, dict(self.charge(call.path_params["id"]))

    # ----------------------------------------------------------------- charging a test card

    def _attempt(self, intent: JsonDict, idempotency_key: str | None) -> None:
        """Charge the intent's test card; a decline raises Stripe's 402 after recording the attempt."""
        card = TEST_CARDS[intent["payment_method"]]
        if card.outcome == "requires_action":
            intent.update({"status": "requires_action", "last_payment_error": None,
                           "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {}}})
            self.store.ledger.record("confirm", "payment_intent", intent["id"], idempotency_key,
                                     {"status": intent["status"]})
            return
        charge = self._new_charge(intent, card)
        intent["latest_charge"] = charge["id"]
        if card.outcome == "declines":
            error = {"charge": charge["id"], "code": "card_declined", "decline_code": card.decline_code,
                     "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                     "message": "Your card was declined.", "type": "card_error"}
            intent.update({"status": "requires_payment_method", "payment_method": None,
                           "last_payment_error": error, "next_action": None})
            self.store.ledger.record("confirm", "payment_intent", intent["id"], idempotency_key,
                                     {"status": intent["status"], "decline_code": card.decline_code})
            raise StripeError(402, "Your card was declined.", type_="card_error", code="card_declined",
                              extra={"decline_code": card.decline_code, "charge": charge["id"],
                                     "payment_intent": self.render(intent)})
        manual = intent["capture_method"] == "manual"
        intent.update({
            "status": "requires_capture" if manual else "succeeded",
            "amount_received": 0 if manual else intent["amount"],
            "amount_capturable": intent["amount"] if manual else 0,
            "last_payment_error": None,
            "next_action": None,
        })
        self.store.ledger.record("confirm", "payment_intent", intent["id"], idempotency_key,
                                 {"status": intent["status"], "charge": charge["id"], "amount": intent["amount"]})

    def _new_charge(self, intent: JsonDict, card: TestCard) -> JsonDict:
        succeeded = card.outcome == "succeeds"
        captured = succeeded and intent["capture_method"] != "manual"
        charge_id = new_id("ch_")
        charge: JsonDict = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if captured else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": new_id("txn_") if captured else None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": "PIVOT SANDBOX",
            "captured": captured,
            "created": now(),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "description": intent["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else "Your card was declined.",
            "fraud_details": {},
            "invoice": None,
            "livemode": False,
            "metadata": {},
            "on_behalf_of": None,
            "outcome": {
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": None if succeeded else card.decline_code,
                "risk_level": "normal",
                "seller_message": "Payment complete." if succeeded else "The bank did not return any further "
                                                                       "details with this decline.",
                "type": "authorized" if succeeded else "issuer_declined",
            },
            "paid": succeeded,
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "receipt_email": intent["receipt_email"],
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/sandbox/{charge_id}" if succeeded else None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded" if succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }
        self.store.state.charges[charge_id] = charge
        self.store.state.created(charge_id)
        return charge
