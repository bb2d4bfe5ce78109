"""Customers: create, retrieve (a deleted one is the `deleted: true` stub), update, delete, list.

Listing filters by exact `email`, as Stripe does, and never shows deleted customers; that is the
lookup a client uses to find the customer its idempotency key created once the key is pruned.
"""

from __future__ import annotations

import re
import secrets

from pivot.providers.stripe.sandbox.common import (
    SEED_CUSTOMER_ID,
    UPPER_ALNUM,
    JsonDict,
    Store,
    StripeCall,
    new_id,
    now,
)
from pivot.providers.stripe.sandbox.errors import invalid, missing
from pivot.providers.stripe.sandbox.forms import EXPAND, Params, merge_metadata
from pivot.providers.stripe.sandbox.listing import LIST_PARAMS, list_page

CUSTOMER_CREATE = frozenset({
    "address", "balance", "cash_balance", "coupon", "description", "email", "expand", "invoice_prefix",
    "invoice_settings", "metadata", "name", "next_invoice_sequence", "payment_method", "phone",
    "preferred_locales", "promotion_code", "shipping", "source", "tax", "tax_exempt", "tax_id_data",
    "test_clock",
})
CUSTOMER_UPDATE = frozenset({
    "address", "balance", "bank_account", "card", "cash_balance", "coupon", "default_alipay_account",
    "default_bank_account", "default_card", "default_source", "description", "email", "expand",
    "invoice_prefix", "invoice_settings", "metadata", "name", "next_invoice_sequence", "phone",
    "preferred_locales", "promotion_code", "shipping", "source", "tax", "tax_exempt",
})
CUSTOMER_LIST = LIST_PARAMS | {"created", "email", "test_clock"}


class Customers:
    """The customer endpoints of one sandbox."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def seed(self) -> None:
        state = self.store.state
        state.customers[SEED_CUSTOMER_ID] = self._customer_object(
            SEED_CUSTOMER_ID, email="ada@example.com", name="Ada Lovelace", invoice_prefix="9S6XKZKN"
        )
        state.created(SEED_CUSTOMER_ID)

    @staticmethod
    def _customer_object(
        customer_id: str,
        *,
        email: str | None,
        name: str | None,
        invoice_prefix: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        metadata: JsonDict | None = None,
        next_invoice_sequence: int = 1,
    ) -> JsonDict:
        return {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": description,
            "discount": None,
            "email": email,
            "invoice_prefix": invoice_prefix or "".join(secrets.choice(UPPER_ALNUM) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(metadata or {}),
            "name": name,
            "next_invoice_sequence": next_invoice_sequence,
            "phone": phone,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def live(self, customer_id: str, *, param: str = "id", status: int = 404) -> JsonDict:
        customer = self.store.state.customers.get(customer_id)
        if customer is None or customer_id in self.store.state.deleted_customers:
            raise missing("customer", customer_id, param=param, status=status)
        return customer

    def create_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, CUSTOMER_CREATE)
        prefix = params.text("invoice_prefix")
        if prefix and not re.fullmatch(r"[A-Z0-9]{3,12}", prefix):
            raise invalid("Invalid invoice_prefix: must be 3-12 uppercase letters or numbers",
                           param="invoice_prefix")
        metadata = params.metadata()
        customer_id = new_id("cus_", 14)
        customer = self._customer_object(
            customer_id,
            email=params.text("email", max_length=512) or None,
            name=params.text("name", max_length=256) or None,
            description=params.text("description") or None,
            phone=params.text("phone", max_length=20) or None,
            invoice_prefix=prefix or None,
            metadata={k: v for k, v in (metadata or {}).items() if v != ""},
            next_invoice_sequence=params.integer("next_invoice_sequence", minimum=1) or 1,
        )
        self.store.state.customers[customer_id] = customer
        self.store.state.created(customer_id)
        self.store.ledger.record("create", "customer", customer_id, call.idempotency_key,
                                 {"email": customer["email"]})
        return 200, customer

    def list_customers(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, CUSTOMER_LIST)
        email = params.text("email", max_length=512) or None
        state = self.store.state
        live = [c for c in state.customers.values()
                if c["id"] not in state.deleted_customers and (email is None or c["email"] == email)]
        return 200, list_page(state, live, params, kind="customer", url="/v1/customers",
                              render=lambda customer, _expand: customer)

    def get_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, EXPAND)
        customer_id = call.path_params["id"]
        if customer_id in self.store.state.deleted_customers:
            return 200, {"id": customer_id, "object": "customer", "deleted": True}
        return 200, self.live(customer_id)

    def update_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        params = Params(call.params, CUSTOMER_UPDATE)
        metadata = params.metadata()
        updates = {
            name: (params.text(name) or None) for name in ("email", "name", "description", "phone")
            if params.has(name)
        }
        customer = self.live(call.path_params["id"])
        customer.update(updates)
        customer["metadata"] = merge_metadata(customer["metadata"], metadata,
                                               clear_all=call.params.get("metadata") == "")
        self.store.ledger.record("update", "customer", customer["id"], call.idempotency_key,
                                 {"fields": sorted([*updates, *(["metadata"] if metadata is not None else [])])})
        return 200, customer

    def delete_customer(self, call: StripeCall) -> tuple[int, JsonDict]:
        Params(call.params, frozenset())
        customer = self.live(call.path_params["id"])
        self.store.state.deleted_customers.add(customer["id"])
        self.store.ledger.record("delete", "customer", customer["id"], call.idempotency_key)
        return 200, {"id": customer["id"], "object": "customer", "deleted": True}

