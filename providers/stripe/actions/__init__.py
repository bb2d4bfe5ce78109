"""The Stripe part of the catalog: what each action is, how it is keyed, verified and undone.

One module per resource holds the forward and compensation routines; this module is the data the
engine validates plans against and `pivot actions` prints. Every POST carries a key derived from
the step key, one per endpoint (Stripe scopes a key to the endpoint it was first used on).
"""

from datetime import timedelta

from pivot.compensations.actions import Action, RetryBudget
from pivot.compensations.kinds import StepKind
from pivot.providers.stripe.actions.charges import ChargeActions, ChargeParams, describe_charge, describe_undo_charge
from pivot.providers.stripe.actions.customers import CreateCustomerParams, CustomerActions
from pivot.providers.stripe.actions.invoices import (
    CreateInvoiceParams,
    InvoiceActions,
    SendInvoiceParams,
    describe_invoice,
    describe_send,
    describe_void,
)
from pivot.providers.stripe.actions.refunds import RefundActions, RefundParams, describe_refund
from pivot.providers.stripe.client import StripeClient

__all__ = [
    "ChargeParams",
    "CreateCustomerParams",
    "CreateInvoiceParams",
    "RefundParams",
    "SendInvoiceParams",
    "stripe_actions",
]

AFTER_PIVOT_BUDGET = RetryBudget(max_attempts=10, max_interval=timedelta(seconds=30))
"""Steps after the pivot must finish: more attempts and longer waits than a pre-pivot write."""


def stripe_actions(client: StripeClient) -> list[Action]:
    invoices = InvoiceActions(client)
    customers = CustomerActions(client)
    charges = ChargeActions(client)
    refunds = RefundActions(client)
    window = client.http.in_flight_window
    return [
        Action(
            name="stripe.create_customer",
            kind=StepKind.COMPENSABLE,
            params=CreateCustomerParams,
            forward=customers.create_customer,
            compensate=customers.delete_customer,
            key_carrier="Idempotency-Key header (step key) and metadata[pivot_key], found by listing customers "
            "with the plan's email",
            readback="GET /v1/customers/{id}: email, name, not deleted, metadata key",
            compensation="delete the customer (permanent on Stripe); an already deleted one counts as undone",
            describe=lambda r: f"Stripe customer {r['id']} ({r.get('email')}) was created",
            describe_undo=lambda r: f"Stripe customer {r['id']} was deleted",
            not_run="No Stripe customer was created",
            in_flight_window=window,
        ),
        Action(
            name="stripe.charge",
            kind=StepKind.COMPENSABLE,
            pivot_eligible=True,
            params=ChargeParams,
            forward=charges.charge,
            compensate=charges.undo_charge,
            key_carrier="Idempotency-Key header (step key on create, ':confirm' on confirm) and "
            "metadata[pivot_key], found by listing the customer's PaymentIntents",
            readback="GET /v1/payment_intents/{id}: amount, currency, customer, amount_received = amount, "
            "status=succeeded, metadata key",
            compensation="cancel if still cancellable (requires_* or processing); once succeeded, refund exactly "
            "what is still refundable of amount_received after the refunds already made, never more; the refund "
            "carries the compensation key (Idempotency-Key and metadata) so a rerun finds it",
            describe=describe_charge,
            describe_undo=describe_undo_charge,
            not_run="No Stripe payment was taken",
            in_flight_window=window,
            retry=RetryBudget(max_attempts=5),
        ),
        Action(
            name="stripe.create_invoice",
            kind=StepKind.COMPENSABLE,
            pivot_eligible=True,
            params=CreateInvoiceParams,
            forward=invoices.create_invoice,
            compensate=invoices.void_invoice,
            key_carrier="Idempotency-Key header (step key; ':lineN' and ':finalize' for the sub-requests) "
            "and metadata[pivot_key] for lookup",
            readback="GET /v1/invoices/{id}: customer, amount_due, currency, status=open, metadata key",
            compensation="void if finalized, delete if draft; paid meanwhile: no refund, a CompensationConflict "
            "(the payment is the customer's; refunding it is a person's decision)",
            describe=describe_invoice,
            describe_undo=describe_void,
            not_run="No Stripe invoice was created",
            in_flight_window=window,
            retry=RetryBudget(max_attempts=5),
        ),
        Action(
            name="stripe.refund",
            kind=StepKind.RETRYABLE,
            params=RefundParams,
            forward=refunds.refund,
            key_carrier="Idempotency-Key header (step key) and metadata[pivot_key], found by listing the "
            "payment's refunds",
            readback="GET /v1/refunds/{id}: amount (when given), payment_intent, status succeeded or pending",
            compensation="none: a refund cannot be taken back (runs after the pivot)",
            describe=describe_refund,
            not_run="No Stripe refund was made",
            in_flight_window=window,
            retry=AFTER_PIVOT_BUDGET,
        ),
        Action(
            name="stripe.send_invoice",
            kind=StepKind.NONCOMPENSABLE,
            params=SendInvoiceParams,
            forward=invoices.send_invoice,
            key_carrier="Idempotency-Key header (step key on /send, ':mark' on the metadata update) and "
            "metadata[pivot_send_key] on the invoice, checked before sending",
            readback="GET /v1/invoices/{id}: status open or paid, metadata[pivot_send_key]",
            compensation="none: the customer already has the email (runs after the pivot)",
            describe=describe_send,
            not_run="No Stripe invoice was emailed",
            in_flight_window=window,
            retry=AFTER_PIVOT_BUDGET,
        ),
    ]
