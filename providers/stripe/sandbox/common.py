"""What every Stripe sandbox module shares: ids, clocks, the state of one instance, one call.

State lives in a `Store` owned by one sandbox instance; a reset swaps `store.state` for a fresh
`StripeState`, so resource modules always read `store.state` at call time and never cache it.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from providers.sandbox_kit import Ledger

JsonDict = dict[str, Any]

STRIPE_VERSION = "2023-08-16"
SEED_CUSTOMER_ID = "cus_9s6XKzkNRiz8i3"
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(ALNUM) for _ in range(length))


def now() -> int:
    return int(time.time())


@dataclass
class SavedResponse:
    """What Stripe's idempotency layer keeps for one key."""

    method: str
    path: str
    params: JsonDict
    status: int
    body: JsonDict
    request_id: str


@dataclass
class StripeState:
    """Every object of one sandbox instance. `order` ranks objects by creation for list endpoints
    (newest first), since `created` has only one-second resolution."""

    customers: dict[str, JsonDict] = field(default_factory=dict)
    deleted_customers: set[str] = field(default_factory=set)
    invoices: dict[str, JsonDict] = field(default_factory=dict)
    items: dict[str, JsonDict] = field(default_factory=dict)
    line_ids: dict[str, str] = field(default_factory=dict)
    payment_intents: dict[str, JsonDict] = field(default_factory=dict)
    charges: dict[str, JsonDict] = field(default_factory=dict)
    refunds: dict[str, JsonDict] = field(default_factory=dict)
    saved: dict[tuple[str, str], SavedResponse] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    order: dict[str, int] = field(default_factory=dict)
    next_order: int = 1

    def created(self, object_id: str) -> None:
        """Rank a new object after every earlier one."""
        self.order[object_id] = self.next_order
        self.next_order += 1


@dataclass
class Store:
    """The ledger and the (replaceable) state of one sandbox instance."""

    ledger: Ledger
    state: StripeState


@dataclass(frozen=True)
class StripeCall:
    """One authenticated request, as the endpoint handlers see it."""

    method: str
    path: str
    path_params: dict[str, str]
    params: JsonDict
    idempotency_key: str | None


Handler = Callable[[StripeCall], tuple[int, JsonDict]]
"""An endpoint: a call in, (HTTP status, JSON body) out; raises `StripeError` to refuse."""
