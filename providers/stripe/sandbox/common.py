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
from typing import Any, TypeVar

from pivot.providers.sandbox_kit import Ledger

JsonDict = dict[str, Any]
_K = TypeVar("_K")

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
    (newest first), since `created` has only one-second resolution.

    Invoice items are indexed by where they sit, so creating or rendering an invoice costs the same
    however many items the sandbox holds: `item_ids_by_invoice` (an invoice's attached items) and
    `pending_item_ids` (a customer's unattached items per currency), both in the order the items were
    created. Items are added, attached and removed only through `add_item`, `attach_item` and
    `remove_item`, which keep both indexes exact; a reset replaces the whole state, indexes included."""

    customers: dict[str, JsonDict] = field(default_factory=dict)
    deleted_customers: set[str] = field(default_factory=set)
    invoices: dict[str, JsonDict] = field(default_factory=dict)
    items: dict[str, JsonDict] = field(default_factory=dict)
    item_ids_by_invoice: dict[str, dict[str, None]] = field(default_factory=dict)
    pending_item_ids: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)
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

    def add_item(self, item: JsonDict) -> None:
        """Store a new invoice item, pending (`invoice` None) or attached to `item["invoice"]`."""
        self.items[item["id"]] = item
        self._slot(item)[item["id"]] = None

    def attach_item(self, item: JsonDict, invoice_id: str) -> None:
        """Move a pending item onto an invoice."""
        self._unslot(item)
        item["invoice"] = invoice_id
        self._slot(item)[item["id"]] = None

    def remove_item(self, item_id: str) -> JsonDict:
        """Delete a stored item; returns it (unchanged, so callers can still read its fields)."""
        item = self.items.pop(item_id)
        self._unslot(item)
        return item

    def items_of(self, invoice_id: str) -> list[JsonDict]:
        """An invoice's attached items in the order they were created.

        Attaching appends, and that is creation order too: pending items are attached only when
        their (new, empty) invoice is created, oldest first, and every item attached afterwards is
        created onto the invoice, so it is newer than all of them."""
        return [self.items[item_id] for item_id in self.item_ids_by_invoice.get(invoice_id, ())]

    def pending_items(self, customer_id: str, currency: str) -> list[JsonDict]:
        """A customer's unattached items in `currency`, in the order they were created."""
        return [self.items[item_id] for item_id in self.pending_item_ids.get((customer_id, currency), ())]

    def _slot(self, item: JsonDict) -> dict[str, None]:
        if item["invoice"] is None:
            return self.pending_item_ids.setdefault((item["customer"], item["currency"]), {})
        return self.item_ids_by_invoice.setdefault(item["invoice"], {})

    def _unslot(self, item: JsonDict) -> None:
        if item["invoice"] is None:
            _drop(self.pending_item_ids, (item["customer"], item["currency"]), item["id"])
        else:
            _drop(self.item_ids_by_invoice, item["invoice"], item["id"])


def _drop(index: dict[_K, dict[str, None]], key: _K, item_id: str) -> None:
    """Take `item_id` out of `index[key]`, and the key out of `index` once it holds nothing."""
    slot = index.get(key)
    if slot is not None:
        slot.pop(item_id, None)
        if not slot:
            del index[key]


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
