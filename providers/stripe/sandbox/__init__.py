"""A local Stripe in Stripe's wire format (API 2023-08-16): customers, invoices and invoice items,
PaymentIntents with test cards, charges and refunds, the account object, and the 401/403 of revoked
and restricted keys (`access`, driven by the kit's token book at `/_sandbox/tokens`).

It exists so that the Stripe client and the saga engine can be exercised offline against the
behaviour that matters for exactly-once writes: form bodies with bracket nesting, Stripe's error
bodies, the invoice and payment state machines, refundable balances, and the idempotency layer
(saved responses replayed with `Idempotent-Replayed: true`, the 400 on a key reused with other
parameters or on another endpoint, the 409 while a request with the same key is in flight).

One module per job: `app` (pipeline and routes), `access` (keys and permissions), `idempotency`,
`forms` (bodies and params), `errors`, `listing`, and one module per resource (`account` among
them). State lives in one `StripeSandbox` per `create_app()` call; nothing is module-level.
"""

from pivot.providers.stripe.sandbox.account import ACCOUNT_ID
from pivot.providers.stripe.sandbox.app import StripeSandbox, create_app
from pivot.providers.stripe.sandbox.common import SEED_CUSTOMER_ID, STRIPE_VERSION
from pivot.providers.stripe.sandbox.forms import parse_form
from pivot.providers.stripe.sandbox.payments import TEST_CARDS

__all__ = ["ACCOUNT_ID", "SEED_CUSTOMER_ID", "STRIPE_VERSION", "TEST_CARDS", "StripeSandbox", "create_app",
           "parse_form"]
