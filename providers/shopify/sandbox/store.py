"""The shop behind the sandbox: variants, draft orders, orders, transactions, refunds, cancel jobs.

Business rules follow Shopify's: a draft completes once into an order (paid unless payment is
pending), a completed draft cannot be deleted, an order is cancelled once and asynchronously
(the job finishes on the second look at it: a poll of `job(id:)` or a read of the order), a
refund needs a successful parent payment with enough left on it. Refusals are `UserErrors`,
which the resolvers return as the payload's userErrors. Every applied write goes to the ledger
with the step key it carries (the `pivot_key` custom attribute, an `@idempotent` key, or a key
written into a staff note). Money has no tax, shipping or FX here: presentment equals shop money.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pivot.providers.sandbox_kit import Ledger
from pivot.providers.shopify.sandbox.fulfillment import Fulfilments
from pivot.providers.shopify.sandbox.inventory import Inventory
from pivot.providers.shopify.sandbox.search import filter_items

KEY_ATTRIBUTE = "pivot_key"
SHOP_CURRENCY = "USD"
SHOP_DOMAIN = "example.myshopify.com"
TAG_MAX_LENGTH = 40
CANCEL_DONE_AFTER_LOOKS = 2
_KEY_IN_TEXT = re.compile(r"pv1_[0-9a-f]{64}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Error = dict[str, Any]


def now_iso() -> str:
    """Shopify's DateTime: ISO 8601, UTC, seconds, `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gid(resource: str, number: int | str) -> str:
    return f"gid://shopify/{resource}/{number}"


def user_error(field_path: Iterable[Any] | None, message: str, code: str | None = None) -> Error:
    error: Error = {"field": [str(part) for part in field_path] if field_path is not None else None,
                    "message": message}
    if code is not None:
        error["code"] = code
    return error


class UserErrors(Exception):
    """A business refusal: nothing was written."""

    def __init__(self, errors: list[Error]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def key_in(text: str | None) -> str | None:
    match = _KEY_IN_TEXT.search(text or "")
    return match.group(0) if match else None


@dataclass
class Variant:
    id: int
    product_title: str
    title: str
    sku: str
    price: Decimal


@dataclass
class Line:
    id: int
    title: str
    quantity: int
    unit_price: Decimal
    variant_id: int | None = None
    sku: str | None = None
    taxable: bool = True
    requires_shipping: bool = True
    attributes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class DraftOrder:
    id: int
    name: str
    currency: str
    lines: list[Line]
    email: str | None = None
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str]] = field(default_factory=list)
    status: str = "OPEN"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    completed_at: str | None = None
    order_id: int | None = None
    invoice_token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def subtotal(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def key(self) -> str | None:
        return dict(self.attributes).get(KEY_ATTRIBUTE)


@dataclass
class Transaction:
    id: int
    order_id: int
    kind: str
    amount: Decimal
    gateway: str
    status: str = "SUCCESS"
    parent_id: int | None = None
    created_at: str = field(default_factory=now_iso)


@dataclass
class Refund:
    id: int
    order_id: int
    note: str | None
    transaction_ids: list[int]
    amount: Decimal
    created_at: str = field(default_factory=now_iso)


@dataclass
class Order:
    id: int
    name: str
    currency: str
    lines: list[Line]
    email: str | None
    note: str | None
    tags: list[str]
    attributes: list[tuple[str, str]]
    transaction_ids: list[int] = field(default_factory=list)
    refund_ids: list[int] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    cancelled_at: str | None = None
    cancel_reason: str | None = None
    cancel_job: str | None = None
    fulfillment: str = "UNFULFILLED"
    closed: bool = False

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def key(self) -> str | None:
        return dict(self.attributes).get(KEY_ATTRIBUTE)


@dataclass
class CancelJob:
    id: str
    order_id: int
    reason: str
    refund: bool
    restock: bool
    key: str | None
    looks: int = 0
    done: bool = False


class Shop:
    """All objects of one sandbox shop, and the writes Shopify allows on them."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.currency = SHOP_CURRENCY
        self.variants: dict[int, Variant] = {}
        self.drafts: dict[int, DraftOrder] = {}
        self.orders: dict[int, Order] = {}
        self.transactions: dict[int, Transaction] = {}
        self.refunds: dict[int, Refund] = {}
        self.jobs: dict[str, CancelJob] = {}
        self._ids = {"draft": 1_100_000_001, "order": 5_500_000_001, "line": 1_300_000_001,
                     "transaction": 7_700_000_001, "refund": 9_900_000_001}
        self._draft_number = 1
        self._order_number = 1001
        for number, (product, title, sku, price) in enumerate(
            [("Pivot Tee", "M", "PIV-TEE-M", "25.00"), ("Pivot Mug", "Default Title", "PIV-MUG", "12.50")],
            start=44_000_000_001,
        ):
            self.variants[number] = Variant(number, product, title, sku, Decimal(price))
        self.inventory = Inventory(ledger, list(self.variants), now_iso)
        self.fulfilments = Fulfilments(ledger, now_iso, self._shipping_lines, self._cancelled)

    def _next(self, kind: str) -> int:
        value = self._ids[kind]
        self._ids[kind] += 1
        return value

    # ------------------------------------------------------------------ draft orders

    def create_draft(self, data: dict[str, Any]) -> DraftOrder:
        currency = str(data.get("presentmentCurrencyCode") or self.currency)
        errors: list[Error] = []
        lines = self._draft_lines(data.get("lineItems") or [], currency, errors)
        tags = [str(tag).strip() for tag in data.get("tags") or []]
        errors += [user_error(["tags"], f"Tags is invalid: '{tag[:50]}' is longer than {TAG_MAX_LENGTH} characters")
                   for tag in tags if len(tag) > TAG_MAX_LENGTH]
        email = data.get("email")
        if email is not None and not _EMAIL.match(str(email)):
            errors.append(user_error(["email"], "Email is invalid"))
        if errors:
            raise UserErrors(errors)
        attributes = [(str(a["key"]), str(a["value"])) for a in data.get("customAttributes") or []]
        draft = DraftOrder(id=self._next("draft"), name=f"#D{self._draft_number}", currency=currency, lines=lines,
                           email=str(email) if email else None, note=data.get("note"),
                           tags=sorted(set(tags), key=str.lower), attributes=attributes)
        self._draft_number += 1
        self.drafts[draft.id] = draft
        self.ledger.record("create", "draft_order", gid("DraftOrder", draft.id), draft.key,
                           {"name": draft.name, "lines": len(lines), "subtotal": str(draft.subtotal)})
        return draft

    def _draft_lines(self, items: list[dict[str, Any]], currency: str, errors: list[Error]) -> list[Line]:
        if not items:
            errors.append(user_error(["lineItems"], "Add at least 1 product"))
        lines = []
        for index, item in enumerate(items):
            where = ["lineItems", index]
            quantity = int(item["quantity"])
            if quantity < 1:
                errors.append(user_error([*where, "quantity"], "Quantity must be greater than or equal to 1"))
            attributes = [(str(a["key"]), str(a["value"])) for a in item.get("customAttributes") or []]
            if item.get("variantId") is not None:
                variant = self.variants.get(_number(item["variantId"], "ProductVariant") or 0)
                if variant is None:
                    errors.append(user_error([*where, "variantId"],
                                             f"Product with ID {item['variantId']} is no longer available."))
                    continue
                lines.append(Line(self._next("line"), f"{variant.product_title} - {variant.title}", quantity,
                                  variant.price, variant.id, variant.sku, attributes=attributes))
                continue
            price = self._custom_price(item, currency, where, errors)
            if not item.get("title"):
                errors.append(user_error([*where, "title"], "Title can't be blank"))
            if price is None or not item.get("title"):
                continue
            lines.append(Line(self._next("line"), str(item["title"]), quantity, price, None, item.get("sku"),
                              bool(item.get("taxable", True)), bool(item.get("requiresShipping", True)), attributes))
        return lines

    @staticmethod
    def _custom_price(item: dict[str, Any], currency: str, where: list[Any], errors: list[Error]) -> Decimal | None:
        with_currency = item.get("originalUnitPriceWithCurrency")
        if with_currency is not None:
            if with_currency["currencyCode"] != currency:
                errors.append(user_error([*where, "originalUnitPriceWithCurrency", "currencyCode"],
                                         "Currency code must match the presentment currency of the draft order"))
                return None
            price: Decimal | None = with_currency["amount"]
        else:
            price = item.get("originalUnitPrice")
        if price is None:
            errors.append(user_error([*where, "originalUnitPriceWithCurrency"], "Price can't be blank"))
            return None
        if price < 0:
            errors.append(user_error([*where, "originalUnitPriceWithCurrency", "amount"],
                                     "Price must be greater than or equal to 0"))
            return None
        return price

    def draft(self, draft_id: int) -> DraftOrder | None:
        return self.drafts.get(draft_id)

    def search_drafts(self, query: str | None) -> tuple[list[DraftOrder], list[dict[str, str]]]:
        def tag(draft: DraftOrder, value: str) -> bool:
            return value.lower() in {t.lower() for t in draft.tags}

        def text(draft: DraftOrder, value: str) -> bool:
            haystack = " ".join([draft.name, draft.email or "", *draft.tags]).lower()
            return value.lower() in haystack

        matchers = {
            "tag": tag,
            "status": lambda d, v: d.status.lower() == v.lower(),
            "email": lambda d, v: (d.email or "").lower() == v.lower(),
            "name": lambda d, v: d.name.lower().lstrip("#") == v.lower().lstrip("#"),
            "id": lambda d, v: str(d.id) == v,
        }
        return filter_items(sorted(self.drafts.values(), key=lambda d: d.id), query, matchers, text)

    def complete_draft(self, draft_id: int, payment_pending: bool) -> DraftOrder:
        draft = self.drafts.get(draft_id)
        if draft is None:
            raise UserErrors([user_error(["id"], "Draft order does not exist")])
        if draft.status == "COMPLETED":
            raise UserErrors([user_error(["id"], "This draft order has already been completed")])
        order = Order(id=self._next("order"), name=f"#{self._order_number}", currency=draft.currency,
                      lines=[Line(self._next("line"), line.title, line.quantity, line.unit_price, line.variant_id,
                                  line.sku, line.taxable, line.requires_shipping, list(line.attributes))
                             for line in draft.lines],
                      email=draft.email, note=draft.note, tags=list(draft.tags), attributes=list(draft.attributes))
        self._order_number += 1
        self.orders[order.id] = order
        if not payment_pending and order.total > 0:
            self._transaction(order, "SALE", order.total, "manual")
        draft.status, draft.order_id = "COMPLETED", order.id
        draft.completed_at = draft.updated_at = now_iso()
        self.ledger.record("complete", "draft_order", gid("DraftOrder", draft.id), draft.key,
                           {"order": gid("Order", order.id), "payment_pending": payment_pending})
        self.ledger.record("create", "order", gid("Order", order.id), order.key,
                           {"name": order.name, "draft_order": gid("DraftOrder", draft.id), "total": str(order.total)})
        return draft

    def delete_draft(self, draft_id: int) -> str:
        draft = self.drafts.get(draft_id)
        if draft is None:
            raise UserErrors([user_error(["id"], "Draft order does not exist")])
        if draft.status == "COMPLETED":
            raise UserErrors([user_error(["id"], "Completed draft orders can't be deleted")])
        del self.drafts[draft_id]
        self.ledger.record("delete", "draft_order", gid("DraftOrder", draft.id), draft.key, {"name": draft.name})
        return gid("DraftOrder", draft.id)

    # ------------------------------------------------------------------ orders and cancellation

    def _transaction(self, order: Order, kind: str, amount: Decimal, gateway: str,
                     parent_id: int | None = None) -> Transaction:
        tx = Transaction(self._next("transaction"), order.id, kind, amount, gateway, parent_id=parent_id)
        self.transactions[tx.id] = tx
        order.transaction_ids.append(tx.id)
        return tx

    def order_transactions(self, order: Order) -> list[Transaction]:
        return [self.transactions[tx_id] for tx_id in order.transaction_ids]

    def refundable_left(self, parent: Transaction) -> Decimal:
        refunded = sum((tx.amount for tx in self.transactions.values()
                        if tx.parent_id == parent.id and tx.kind == "REFUND" and tx.status == "SUCCESS"), Decimal(0))
        return parent.amount - refunded

    def financial_status(self, order: Order) -> str:
        transactions = self.order_transactions(order)
        paid = sum((t.amount for t in transactions if t.kind in ("SALE", "CAPTURE") and t.status == "SUCCESS"),
                   Decimal(0))
        refunded = sum((t.amount for t in transactions if t.kind == "REFUND" and t.status == "SUCCESS"), Decimal(0))
        if paid == 0:
            return "VOIDED" if order.cancelled_at else "PENDING"
        if refunded == 0:
            return "PAID"
        return "REFUNDED" if refunded >= paid else "PARTIALLY_REFUNDED"

    def refunded_total(self, order: Order) -> Decimal:
        return sum((self.refunds[r].amount for r in order.refund_ids), Decimal(0))

    def look_at_order(self, order_id: int) -> Order | None:
        """A read of the order: it moves a running cancellation along, as time would."""
        order = self.orders.get(order_id)
        if order is not None and order.cancel_job is not None:
            self.look_at_job(order.cancel_job)
        return order

    def look_at_job(self, job_id: str) -> CancelJob | None:
        job = self.jobs.get(job_id)
        if job is not None and not job.done:
            job.looks += 1
            if job.looks >= CANCEL_DONE_AFTER_LOOKS:
                self._finish_cancel(job)
        return job

    def cancel_order(self, order_id: int, *, reason: str, refund: bool, restock: bool,
                     staff_note: str | None) -> CancelJob:
        order = self.orders.get(order_id)
        if order is None:
            raise UserErrors([user_error(["orderId"], "Order does not exist", "NOT_FOUND")])
        if order.cancelled_at is not None:
            raise UserErrors([user_error(["orderId"], "Order has already been cancelled", "INVALID")])
        if order.cancel_job is not None:
            raise UserErrors([user_error(["orderId"], "Order is already being cancelled", "INVALID")])
        if self.fulfillment_status(order) in ("FULFILLED", "PARTIALLY_FULFILLED"):
            raise UserErrors([user_error(["orderId"], "Cannot cancel an order with fulfilled line items", "INVALID")])
        job = CancelJob(id=str(uuid.uuid4()), order_id=order.id, reason=reason, refund=refund, restock=restock,
                        key=key_in(staff_note))
        self.jobs[job.id] = job
        order.cancel_job = job.id
        self.ledger.record("cancel", "order", gid("Order", order.id), job.key,
                           {"name": order.name, "reason": reason, "refund": refund, "restock": restock,
                            "job": gid("Job", job.id)})
        return job

    def _finish_cancel(self, job: CancelJob) -> None:
        order = self.orders[job.order_id]
        job.done = True
        order.cancelled_at = order.updated_at = now_iso()
        order.cancel_reason, order.cancel_job, order.closed = job.reason, None, True
        if job.refund:
            parents = [t for t in self.order_transactions(order)
                       if t.kind in ("SALE", "CAPTURE") and t.status == "SUCCESS" and self.refundable_left(t) > 0]
            if parents:
                plan = [(parent, self.refundable_left(parent)) for parent in parents]
                refund = self._apply_refund(order, plan, "Order canceled")
                self.ledger.record("create", "refund", gid("Refund", refund.id), job.key,
                                   {"order": gid("Order", order.id), "amount": str(refund.amount), "by": "orderCancel"})

    def _shipping_lines(self, order_id: int) -> list[tuple[int, int]] | None:
        order = self.orders.get(order_id)
        return None if order is None else [(line.id, line.quantity) for line in order.lines if line.requires_shipping]

    def _cancelled(self, order_id: int) -> bool:
        order = self.orders.get(order_id)
        return order is not None and (order.cancelled_at is not None or order.cancel_job is not None)

    def fulfillment_status(self, order: Order) -> str:
        """displayFulfillmentStatus: from the order's fulfillments (see `fulfillment`)."""
        return self.fulfilments.display_status(order.id, order.fulfillment)

    def fulfill(self, order_id: int) -> Order | None:
        """Test instrument: the warehouse shipped the order."""
        order = self.orders.get(order_id)
        if order is not None:
            order.fulfillment = "FULFILLED"
            self.fulfilments.close_all(order_id)
        return order

    # ------------------------------------------------------------------ refunds

    def create_refund(self, data: dict[str, Any], idempotency_key: str | None) -> Refund:
        order = self.orders.get(_number(data["orderId"], "Order") or 0)
        if order is None:
            raise UserErrors([user_error(["orderId"], "Order does not exist")])
        errors: list[Error] = []
        if data.get("currency") is not None and data["currency"] != order.currency:
            errors.append(user_error(["currency"], f"Currency must be {order.currency}, the order's currency"))
        plan: list[tuple[Transaction, Decimal]] = []
        for index, item in enumerate(data.get("transactions") or []):
            where = ["transactions", index]
            parent = self.transactions.get(_number(item.get("parentId"), "OrderTransaction") or 0)
            amount: Decimal = item["amount"]
            if item["kind"] != "REFUND":
                errors.append(user_error([*where, "kind"], "Kind must be refund"))
            elif _number(item["orderId"], "Order") != order.id:
                errors.append(user_error([*where, "orderId"], "Transaction must belong to the refunded order"))
            elif parent is None or parent.order_id != order.id:
                errors.append(user_error([*where, "parentId"], "Parent transaction does not exist"))
            elif parent.kind not in ("SALE", "CAPTURE") or parent.status != "SUCCESS":
                errors.append(user_error([*where, "parentId"], "Parent transaction cannot be refunded"))
            elif amount <= 0:
                errors.append(user_error([*where, "amount"], "Amount must be greater than 0"))
            elif amount > self.refundable_left(parent) - sum((a for p, a in plan if p is parent), Decimal(0)):
                errors.append(user_error([*where, "amount"], f"Amount cannot be greater than "
                                                             f"{self.refundable_left(parent)}, the refundable amount"))
            else:
                plan.append((parent, amount))
        if errors:
            raise UserErrors(errors)
        refund = self._apply_refund(order, plan, data.get("note"))
        self.ledger.record("create", "refund", gid("Refund", refund.id), idempotency_key or key_in(refund.note),
                           {"order": gid("Order", order.id), "amount": str(refund.amount)})
        return refund

    def _apply_refund(self, order: Order, plan: list[tuple[Transaction, Decimal]], note: str | None) -> Refund:
        transactions = [self._transaction(order, "REFUND", amount, parent.gateway, parent.id)
                        for parent, amount in plan]
        refund = Refund(self._next("refund"), order.id, note, [t.id for t in transactions],
                        sum((t.amount for t in transactions), Decimal(0)))
        self.refunds[refund.id] = refund
        order.refund_ids.append(refund.id)
        order.updated_at = now_iso()
        return refund


_GID = re.compile(r"^gid://shopify/(?P<resource>\w+)/(?P<number>\d{1,20})$")


def _number(value: Any, resource: str) -> int | None:
    """The number of a global id of `resource`; None for another resource's id or a malformed one."""
    match = _GID.match(str(value or ""))
    if match is None or match["resource"] != resource:
        return None
    return int(match["number"])


def parse_gid(value: Any) -> tuple[str, int] | None:
    match = _GID.match(str(value or ""))
    return (match["resource"], int(match["number"])) if match else None
