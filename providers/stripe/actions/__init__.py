"""The Stripe part of the catalog: one `KeyedAction` per action, one module per resource.

`customers` (create_customer), `charges` (charge), `refunds` (refund), `invoices` (create_invoice,
send_invoice); `lookup` is how a write is found again (the step key in `metadata[pivot_key]`),
`base` what the actions share. Every POST carries a key derived from the step key, one per endpoint
(Stripe scopes a key to the endpoint it was first used on).
"""

from pivot.compensations.actions import Action
from pivot.providers.stripe.actions.charges import Charge, ChargeParams
from pivot.providers.stripe.actions.customers import CreateCustomer, CreateCustomerParams
from pivot.providers.stripe.actions.invoices import CreateInvoice, CreateInvoiceParams, SendInvoice, SendInvoiceParams
from pivot.providers.stripe.actions.refunds import Refund, RefundParams
from pivot.providers.stripe.client import StripeClient

__all__ = [
    "Charge",
    "ChargeParams",
    "CreateCustomer",
    "CreateCustomerParams",
    "CreateInvoice",
    "CreateInvoiceParams",
    "Refund",
    "RefundParams",
    "SendInvoice",
    "SendInvoiceParams",
    "stripe_actions",
]


def stripe_actions(client: StripeClient) -> list[Action]:
    return [kind(client).action() for kind in (CreateCustomer, Charge, CreateInvoice, Refund, SendInvoice)]
