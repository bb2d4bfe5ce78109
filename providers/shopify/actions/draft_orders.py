"""Draft orders: `shopify.create_draft_order` (undone by deleting the draft) and
`shopify.complete_draft_order` (undone by cancelling the order it made, with a refund and a restock).

`draftOrderCreate` takes no idempotency key, so the step key is stored on the draft itself: a tag
`pivot-<32 hex of the key>` that Shopify's search can find, and the full key in the custom
attribute `pivot_key`, compared on every read (a tag holds only a prefix of the key). `lookup`
searches by the tag and reads the draft by id; a write reads its draft back by id, and so does
the undo when the verified result names it (`recall`): the search index may not have
caught up with a fresh draft yet, and a deleted draft is no longer returned at all, which the
result then tells apart from one that never existed.

Completion needs no key at all: a draft completes once, and a completed draft names its order, so
the lookup before `draftOrderComplete` is simply reading the draft (and its order).

Caveat: Shopify's search index lags writes by seconds. A retry that follows a lost answer comes
after the client timeout (10 s by default), by which time the draft is normally indexed; a faster
retry could miss it and create a second draft. The compensation deletes by key, so it would only
find one of them: the catalog says so.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.base import ShopifyAction
from pivot.providers.shopify.params import CompleteDraftOrderParams, CreateDraftOrderParams, DraftLineItem
from pivot.providers.shopify.shop import Shop
from pivot.providers.shopify.views import (
    KEY_ATTRIBUTE,
    KEY_TAG_HEX,
    attribute,
    gid_number,
    key_tag,
    money,
    money_phrase,
    money_text,
    nodes,
    with_marker,
)

COMPLETED = "COMPLETED"
FULFILLED = frozenset({"FULFILLED", "PARTIALLY_FULFILLED"})


def _line_input(item: DraftLineItem, currency: str) -> dict[str, Any]:
    line: dict[str, Any] = {"quantity": item.quantity}
    if item.variant_id is not None:
        line["variantId"] = item.variant_id
    else:
        assert item.price is not None
        line.update(title=item.title, originalUnitPriceWithCurrency={"amount": money_text(item.price),
                                                                     "currencyCode": currency})
        if item.sku is not None:
            line["sku"] = item.sku
    if item.taxable is not None:
        line["taxable"] = item.taxable
    if item.requires_shipping is not None:
        line["requiresShipping"] = item.requires_shipping
    return line


def draft_input(params: CreateDraftOrderParams, key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lineItems": [_line_input(item, params.currency) for item in params.line_items],
        "presentmentCurrencyCode": params.currency,
        "tags": [*params.tags, key_tag(key)],
        "customAttributes": [{"key": KEY_ATTRIBUTE, "value": key}],
    }
    if params.email is not None:
        body["email"] = params.email
    if params.note is not None:
        body["note"] = params.note
    return body


def _expected_lines(params: CreateDraftOrderParams) -> list[dict[str, Any]]:
    return [
        {"variant": item.variant_id, "quantity": item.quantity}
        if item.variant_id is not None
        else {"title": item.title, "quantity": item.quantity, "price": money_text(item.price or Decimal(0))}
        for item in params.line_items
    ]


def _actual_lines(draft: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for node in nodes(draft.get("lineItems")):
        if node.get("custom"):
            lines.append({"title": node.get("title"), "quantity": node.get("quantity"),
                          "price": money_text(money(node.get("originalUnitPriceSet"))[0])})
        else:
            variant = node.get("variant") or {}
            lines.append({"variant": variant.get("id"), "quantity": node.get("quantity")})
    return lines


async def plain_draft(shop: Shop, purpose: str) -> str:
    """A one-line custom draft in the shop's currency that carries no key, made directly: what a
    conformance run starts from."""
    currency = await shop.currency()
    line = {"title": f"Pivot conformance ({purpose}) {uuid.uuid4().hex[:12]}", "quantity": 1,
            "originalUnitPriceWithCurrency": {"amount": "1.00", "currencyCode": currency}}
    payload = await shop.client.mutate(documents.DRAFT_ORDER_CREATE,
                                       {"input": {"lineItems": [line], "presentmentCurrencyCode": currency}},
                                       "draftOrderCreate")
    return str((payload.get("draftOrder") or {}).get("id"))


async def placed_order(shop: Shop, purpose: str) -> str:
    """A paid order made directly (a plain draft, completed): what a cancel or a refund starts from."""
    payload = await shop.client.mutate(documents.DRAFT_ORDER_COMPLETE,
                                       {"id": await plain_draft(shop, purpose), "paymentPending": False},
                                       "draftOrderComplete")
    return str(((payload.get("draftOrder") or {}).get("order") or {}).get("id"))


@dataclass(frozen=True, slots=True)
class KeyedDraft:
    """A draft order as Shopify holds it (read by id), and the step key it was found or written with:
    `verify` checks that the draft carries it. `deleted`: the draft is gone, and `draft` is what the
    step's verified result said about it (Shopify answers null for a deleted draft)."""

    key: str
    draft: dict[str, Any]
    deleted: bool = False


class CreateDraftOrder(ShopifyAction[CreateDraftOrderParams, KeyedDraft]):
    name: ClassVar[str] = "shopify.create_draft_order"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = CreateDraftOrderParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "variables.input.customAttributes",
        f"tag 'pivot-<first {KEY_TAG_HEX} hex of the key>' (searched with draftOrders(query: \"tag:'…'\")) + the "
        f"full key in custom attribute '{KEY_ATTRIBUTE}', compared on read")
    readback: ClassVar[str] = ("draftOrder(id): status OPEN, line items (variant/quantity, or title/quantity/price), "
                               "currency, subtotal of custom lines, email, key attribute and tag")
    compensation: ClassVar[str] = (
        "draftOrderDelete; a draft completed meanwhile into a live order, or whose invoice was sent, is a conflict "
        "(one whose order is cancelled counts as undone)")
    not_run: ClassVar[str] = "No Shopify draft order was created"

    async def lookup(self, params: CreateDraftOrderParams, key: str) -> KeyedDraft | None:
        found = await self.find_all(params, key)
        return found[0] if found else None

    async def find_all(self, params: CreateDraftOrderParams, key: str) -> list[KeyedDraft]:
        """The drafts carrying the key: searched by its tag, confirmed by the full key attribute, then
        read again by id (the search index may be behind the object)."""
        data = await self.client.execute(documents.FIND_DRAFT_ORDERS, {"query": f"tag:'{key_tag(key)}'"},
                                         operation="draftOrders")
        found = []
        for node in nodes(data.get("draftOrders")):
            if attribute(node, KEY_ATTRIBUTE) == key:
                draft = await self.shop.draft(str(node["id"]))
                if draft is not None:
                    found.append(KeyedDraft(key, draft))
        return found

    async def write(self, params: CreateDraftOrderParams, key: str) -> KeyedDraft:
        """draftOrderCreate carrying the key, then the draft read by id (the read-back)."""
        payload = await self.client.mutate(documents.DRAFT_ORDER_CREATE, {"input": draft_input(params, key)},
                                           "draftOrderCreate")
        created = payload.get("draftOrder") or {}
        draft = await self.shop.draft(str(created.get("id")))
        if draft is None:
            raise ProviderRejected("readback_mismatch", f"Shopify draft order {created.get('id')} is gone "
                                                        "after the write")
        return KeyedDraft(key, draft)

    async def read_back(self, params: CreateDraftOrderParams, key: str, written: KeyedDraft) -> KeyedDraft:
        """The lookup and the write both answer the draft as just read by id: that is the read-back."""
        return written

    def verify(self, params: CreateDraftOrderParams, fresh: KeyedDraft) -> JsonDict:
        draft, key = fresh.draft, fresh.key
        subtotal, currency = money(draft.get("subtotalPriceSet"))
        total, _ = money(draft.get("totalPriceSet"))
        expected: dict[str, Any] = {"status": "OPEN", "currency": params.currency, "lines": _expected_lines(params),
                                    "key": key, "tag": True}
        actual: dict[str, Any] = {
            "status": draft.get("status"), "currency": currency, "lines": _actual_lines(draft),
            "key": attribute(draft, KEY_ATTRIBUTE),
            "tag": key_tag(key) in {str(tag).lower() for tag in draft.get("tags") or []},
        }
        if params.email is not None:
            expected["email"] = params.email.lower()
            actual["email"] = str(draft.get("email") or "").lower()
        if params.subtotal is not None:
            expected["subtotal"] = money_text(params.subtotal)
            actual["subtotal"] = money_text(subtotal)
        if actual != expected:
            raise Mismatch(f"Shopify draft order {draft.get('name')} does not match the plan",
                           expected=expected, actual=actual)
        return {
            "ref": f"shopify:draft_order/{gid_number(str(draft['id']))}",
            "id": draft["id"],
            "name": draft.get("name"),
            "status": draft.get("status"),
            "email": draft.get("email"),
            "subtotal": money_text(subtotal),
            "total": money_text(total),
            "currency": currency,
            "line_items": len(actual["lines"]),
        }

    def describe(self, result: JsonDict) -> str:
        return f"Shopify draft order {result['name']} ({money_phrase(result)}) was created"

    def describe_undo(self, result: JsonDict) -> str:
        return f"Shopify draft order {result['name']} was deleted"

    async def recall(
        self, params: CreateDraftOrderParams, key: str, result: JsonDict | None
    ) -> KeyedDraft | None:
        """By the verified result's id when there is one (no search lag; a deleted draft is then
        known as deleted), else by key."""
        if result is None:
            return await self.lookup(params, key)
        draft = await self.shop.draft(str(result["id"]))
        if draft is None:
            return KeyedDraft(key, {"id": result["id"], "name": result.get("name")}, deleted=True)
        return KeyedDraft(key, draft)

    def is_undone(self, found: KeyedDraft) -> bool:
        """Deleted, or completed into an order that is cancelled (the completion's undo ran)."""
        draft = found.draft
        cancelled = bool((draft.get("order") or {}).get("cancelledAt"))
        return found.deleted or (draft.get("status") == COMPLETED and cancelled)

    async def undo(self, params: CreateDraftOrderParams, found: KeyedDraft, result: JsonDict | None, key: str) -> str:
        """Delete the draft; a draft that became a live order, or whose invoice went out, is
        somebody's business now: a conflict, left as it is."""
        draft = found.draft
        _refuse_unless_open(draft)
        try:
            await self.client.mutate(documents.DRAFT_ORDER_DELETE, {"input": {"id": draft["id"]}}, "draftOrderDelete")
        except ProviderRejected:
            again = await self.shop.draft(str(draft["id"]))
            if again is None:
                return f"Shopify draft order {draft.get('name')} is deleted"
            if self.is_undone(KeyedDraft(key, again)):
                return f"Shopify draft order {draft.get('name')} became an order that is cancelled"
            _refuse_unless_open(again)
            raise
        return f"Shopify draft order {draft.get('name')} deleted"

    async def example(self) -> CreateDraftOrderParams:
        token = uuid.uuid4().hex[:12]
        return CreateDraftOrderParams.model_validate({
            "line_items": [{"title": f"Pivot conformance {token}", "price": "1.00", "quantity": 2}],
            "currency": await self.shop.currency(),
            "email": f"conformance+{token}@example.com", "note": "Pivot conformance", "tags": ["conformance"],
        })

    async def tamper(self, params: CreateDraftOrderParams, found: KeyedDraft) -> None:
        """Someone completes the draft into an order (payment pending), as a merchant would."""
        await self.client.mutate(documents.DRAFT_ORDER_COMPLETE, {"id": found.draft["id"], "paymentPending": True},
                                 "draftOrderComplete")


def _refuse_unless_open(draft: dict[str, Any]) -> None:
    """A completed draft (its order live) or one whose invoice went out may not be deleted."""
    name, status = draft.get("name"), draft.get("status")
    if status == COMPLETED:
        order = draft.get("order") or {}
        raise CompensationConflict(
            f"Shopify draft order {name} was completed into order {order.get('name')} meanwhile; a completed "
            "draft cannot be deleted and the live order is left alone",
            expected="OPEN", current=COMPLETED,
        )
    if status != "OPEN":
        raise CompensationConflict(f"Shopify draft order {name} is {status}: its invoice went to the customer "
                                   "meanwhile", expected="OPEN", current=status)


@dataclass(frozen=True, slots=True)
class Completion:
    """A completed draft and the order it names (None: that order no longer exists)."""

    draft: dict[str, Any]
    order: dict[str, Any] | None


class CompleteDraftOrder(ShopifyAction[CompleteDraftOrderParams, Completion]):
    name: ClassVar[str] = "shopify.complete_draft_order"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    pivot_eligible: ClassVar[bool] = True
    params = CompleteDraftOrderParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.stored(
        "none",
        "none needed: a draft completes once and then names its order (read before completing); the compensation "
        "key goes in the cancellation's staff note")
    readback: ClassVar[str] = ("order(id) of the completed draft: cancelledAt null, displayFinancialStatus PAID "
                               "(PENDING with payment_pending), total and currency equal to the draft's")
    compensation: ClassVar[str] = (
        "orderCancel (reason OTHER, refund to original payment methods, restock, no customer notification), then "
        "poll job(id) until the order shows cancelledAt; a fulfilled order is a conflict")
    not_run: ClassVar[str] = "No Shopify order was created from the draft"

    async def _completion(self, draft: dict[str, Any] | None) -> Completion | None:
        if draft is None or draft.get("status") != COMPLETED:
            return None
        order_id = (draft.get("order") or {}).get("id")
        return Completion(draft, await self.shop.order(str(order_id)) if order_id else None)

    async def lookup(self, params: CompleteDraftOrderParams, key: str) -> Completion | None:
        """The draft, if it is completed, and its order: a draft completes once."""
        return await self._completion(await self.shop.draft(params.draft_order))

    async def write(self, params: CompleteDraftOrderParams, key: str) -> Completion:
        """draftOrderComplete, then the draft and its order read by id (the read-back)."""
        try:
            await self.client.mutate(documents.DRAFT_ORDER_COMPLETE,
                                     {"id": params.draft_order, "paymentPending": params.payment_pending},
                                     "draftOrderComplete")
        except ProviderRejected:
            # Refused: because an earlier attempt (its answer lost) completed it already, or no such draft?
            draft = await self.shop.draft(params.draft_order)
            if draft is None:
                raise ProviderRejected("not_found", f"Shopify has no draft order {gid_number(params.draft_order)}") \
                    from None
            completed = await self._completion(draft)
            if completed is None:
                raise
            return completed
        completed = await self.lookup(params, key)
        if completed is None:
            raise ProviderRejected("readback_mismatch", f"Shopify draft order {gid_number(params.draft_order)} is "
                                                        "not completed after draftOrderComplete")
        return completed

    async def read_back(self, params: CompleteDraftOrderParams, key: str, written: Completion) -> Completion:
        """The lookup and the write both answer the draft and its order as just read by id."""
        return written

    def verify(self, params: CompleteDraftOrderParams, fresh: Completion) -> JsonDict:
        draft, order = fresh.draft, fresh.order
        if order is None:
            raise Mismatch(f"Shopify draft order {draft.get('name')} names no order after completion",
                           expected="an order", actual=None)
        total, currency = money(order.get("totalPriceSet"))
        draft_total, draft_currency = money(draft.get("totalPriceSet"))
        expected = {"draft_order": params.draft_order,
                    "financial_status": "PENDING" if params.payment_pending else "PAID", "cancelled_at": None,
                    "total": money_text(draft_total), "currency": draft_currency}
        actual = {"draft_order": draft.get("id"), "financial_status": order.get("displayFinancialStatus"),
                  "cancelled_at": order.get("cancelledAt"), "total": money_text(total), "currency": currency}
        if actual != expected:
            raise Mismatch(f"Shopify order {order.get('name')} does not match the completed draft",
                           expected=expected, actual=actual)
        return {
            "ref": f"shopify:order/{gid_number(str(order['id']))}",
            "id": order["id"],
            "name": order.get("name"),
            "draft_order": draft["id"],
            "draft_name": draft.get("name"),
            "financial_status": order.get("displayFinancialStatus"),
            "total": money_text(total),
            "currency": currency,
        }

    def describe(self, result: JsonDict) -> str:
        return (f"Shopify draft order {result.get('draft_name')} was completed as order {result['name']} "
                f"({money_phrase(result)}, {str(result.get('financial_status')).lower()})")

    def describe_undo(self, result: JsonDict) -> str:
        return f"Shopify order {result['name']} was cancelled, refunded and restocked"

    def is_undone(self, found: Completion) -> bool:
        """Its order is cancelled, or gone."""
        return found.order is None or bool(found.order.get("cancelledAt"))

    async def undo(self, params: CompleteDraftOrderParams, found: Completion, result: JsonDict | None,
                   key: str) -> str:
        """Cancel the order the completion created, refunding and restocking; a fulfilled order
        has left the warehouse, so cancelling it would not undo the sale: a conflict."""
        order = found.order
        assert order is not None
        name, fulfillment = order.get("name"), order.get("displayFulfillmentStatus")
        if fulfillment in FULFILLED:
            raise CompensationConflict(f"Shopify order {name} was {str(fulfillment).lower()} meanwhile; cancelling "
                                       "it would not bring the goods back", expected="UNFULFILLED", current=fulfillment)
        await self.shop.cancel(order, reason="OTHER", refund=True, restock=True, notify_customer=False,
                               staff_note=with_marker("Pivot saga unwound", key))
        return f"Shopify order {name} cancelled, refunded and restocked"

    async def example(self) -> CompleteDraftOrderParams:
        """A draft of its own to complete, made through the client."""
        return CompleteDraftOrderParams(draft_order=await plain_draft(self.shop, "complete"))

    async def tamper(self, params: CompleteDraftOrderParams, found: Completion) -> None:
        """The warehouse ships the order (fulfillmentCreate of its open fulfillment orders; the app
        needs `write_merchant_managed_fulfillment_orders` for it, which the catalog never uses)."""
        assert found.order is not None
        await self.shop.ship_open(str(found.order["id"]))
