"""Draft orders: create one (undone by deleting it) and complete one into an order (undone by
cancelling that order with a refund and a restock).

`draftOrderCreate` takes no idempotency key, so the step key is stored on the draft itself: a tag
`pivot-<32 hex of the key>` that Shopify's search can find, and the full key in the custom
attribute `pivot_key`, compared on every read (a tag holds only a prefix of the key). Completion
needs no key at all: a draft completes once, and a completed draft names its order, so the
lookup before `draftOrderComplete` is simply reading the draft.

Caveat: Shopify's search index lags writes by seconds. A retry that follows a lost answer comes
after the client timeout (10 s by default), by which time the draft is normally indexed; a faster
retry could miss it and create a second draft. The compensation deletes by key, so it would only
find one of them: the catalog says so.
"""

from decimal import Decimal
from typing import Any

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.shopify import documents
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.orders import Orders
from pivot.providers.shopify.params import CompleteDraftOrderParams, CreateDraftOrderParams, DraftLineItem
from pivot.providers.shopify.views import (
    KEY_ATTRIBUTE,
    attribute,
    gid_number,
    key_tag,
    money,
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


class DraftOrders:
    def __init__(self, client: ShopifyClient):
        self.client = client
        self.orders = Orders(client)

    async def get(self, draft_id: str) -> dict[str, Any] | None:
        data = await self.client.execute(documents.DRAFT_ORDER, {"id": draft_id}, operation="draftOrder")
        draft = data.get("draftOrder")
        return draft if isinstance(draft, dict) else None

    async def find(self, key: str) -> dict[str, Any] | None:
        """The draft carrying `key`: searched by its tag, confirmed by the full key attribute,
        then read again by id (the search index may be behind the object)."""
        data = await self.client.execute(documents.FIND_DRAFT_ORDERS, {"query": f"tag:'{key_tag(key)}'"},
                                         operation="draftOrders")
        found = next((d for d in nodes(data.get("draftOrders")) if attribute(d, KEY_ATTRIBUTE) == key), None)
        return await self.get(str(found["id"])) if found is not None else None

    # ------------------------------------------------------------------ create / delete

    async def create_draft_order(self, params: CreateDraftOrderParams, keys: StepKeys) -> JsonDict:
        draft = await self.find(keys.forward)
        if draft is None:
            payload = await self.client.mutate(documents.DRAFT_ORDER_CREATE,
                                               {"input": draft_input(params, keys.forward)}, "draftOrderCreate")
            created = payload.get("draftOrder") or {}
            draft = await self.get(str(created.get("id")))
            if draft is None:
                raise ProviderRejected("readback_mismatch", f"Shopify draft order {created.get('id')} is gone "
                                                            "after the write")
        return self._verified_draft(draft, params, keys.forward)

    def _verified_draft(self, draft: dict[str, Any], params: CreateDraftOrderParams, key: str) -> JsonDict:
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
            raise ProviderRejected("readback_mismatch", f"Shopify draft order {draft.get('name')} does not match "
                                                        "the plan", {"expected": expected, "actual": actual})
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

    async def delete_draft_order(
        self, params: CreateDraftOrderParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        """Delete the draft; a draft that became a live order, or whose invoice went out, is
        somebody's business now: a conflict, left as it is."""
        draft = await self.get(str(result["id"])) if result is not None else await self.find(keys.forward)
        if draft is None:
            if result is None:
                return CompensationReport(state="nothing_to_undo", detail="Shopify holds no draft order for this step")
            return CompensationReport(state="compensated", detail=f"Shopify draft order {result.get('name')} is "
                                                                  "deleted")
        undone = self._undone_or_conflict(draft)
        if undone is not None:
            return undone
        try:
            await self.client.mutate(documents.DRAFT_ORDER_DELETE, {"input": {"id": draft["id"]}}, "draftOrderDelete")
        except ProviderRejected:
            again = await self.get(str(draft["id"]))
            if again is None:
                return CompensationReport(state="compensated", detail=f"Shopify draft order {draft.get('name')} "
                                                                      "is deleted")
            undone = self._undone_or_conflict(again)
            if undone is not None:
                return undone
            raise
        return CompensationReport(state="compensated", detail=f"Shopify draft order {draft.get('name')} deleted")

    @staticmethod
    def _undone_or_conflict(draft: dict[str, Any]) -> CompensationReport | None:
        """None when the draft may be deleted; a report when there is nothing left to do; raises on conflict."""
        name, status = draft.get("name"), draft.get("status")
        if status == COMPLETED:
            order = draft.get("order") or {}
            if order.get("cancelledAt"):
                return CompensationReport(state="compensated", detail=f"Shopify draft order {name} became order "
                                                                      f"{order.get('name')}, which is cancelled")
            raise CompensationConflict(
                f"Shopify draft order {name} was completed into order {order.get('name')} meanwhile; a completed "
                "draft cannot be deleted and the live order is left alone",
                expected="OPEN", current=COMPLETED,
            )
        if status != "OPEN":
            raise CompensationConflict(f"Shopify draft order {name} is {status}: its invoice went to the customer "
                                       "meanwhile", expected="OPEN", current=status)
        return None

    # ------------------------------------------------------------------ complete / cancel

    async def complete_draft_order(self, params: CompleteDraftOrderParams, keys: StepKeys) -> JsonDict:
        draft = await self._existing_draft(params.draft_order)
        if draft.get("status") != COMPLETED:
            try:
                await self.client.mutate(documents.DRAFT_ORDER_COMPLETE,
                                         {"id": draft["id"], "paymentPending": params.payment_pending},
                                         "draftOrderComplete")
            except ProviderRejected:
                if (await self._existing_draft(params.draft_order)).get("status") != COMPLETED:
                    raise
            draft = await self._existing_draft(params.draft_order)
        order_id = (draft.get("order") or {}).get("id")
        order = await self.orders.get(str(order_id)) if order_id else None
        if order is None:
            raise ProviderRejected("readback_mismatch", f"Shopify draft order {draft.get('name')} names no order "
                                                        "after completion")
        return self._verified_order(order, draft, params)

    async def _existing_draft(self, draft_id: str) -> dict[str, Any]:
        draft = await self.get(draft_id)
        if draft is None:
            raise ProviderRejected("not_found", f"Shopify has no draft order {gid_number(draft_id)}")
        return draft

    @staticmethod
    def _verified_order(order: dict[str, Any], draft: dict[str, Any], params: CompleteDraftOrderParams) -> JsonDict:
        total, currency = money(order.get("totalPriceSet"))
        draft_total, draft_currency = money(draft.get("totalPriceSet"))
        expected = {"financial_status": "PENDING" if params.payment_pending else "PAID", "cancelled_at": None,
                    "total": money_text(draft_total), "currency": draft_currency}
        actual = {"financial_status": order.get("displayFinancialStatus"), "cancelled_at": order.get("cancelledAt"),
                  "total": money_text(total), "currency": currency}
        if actual != expected:
            raise ProviderRejected("readback_mismatch", f"Shopify order {order.get('name')} does not match the "
                                                        "completed draft", {"expected": expected, "actual": actual})
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

    async def cancel_completed_order(
        self, params: CompleteDraftOrderParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        """Cancel the order the completion created, refunding and restocking; a fulfilled order
        has left the warehouse, so cancelling it would not undo the sale: a conflict."""
        order_id = str(result["id"]) if result is not None else await self._completed_order_id(params.draft_order)
        if order_id is None:
            return CompensationReport(state="nothing_to_undo",
                                      detail=f"Shopify draft order {gid_number(params.draft_order)} was not completed")
        order = await self.orders.get(order_id)
        if order is None:
            return CompensationReport(state="compensated", detail=f"Shopify order {gid_number(order_id)} no longer "
                                                                  "exists")
        name = order.get("name")
        if order.get("cancelledAt"):
            return CompensationReport(state="compensated", detail=f"Shopify order {name} is cancelled")
        fulfillment = order.get("displayFulfillmentStatus")
        if fulfillment in FULFILLED:
            raise CompensationConflict(f"Shopify order {name} was {str(fulfillment).lower()} meanwhile; cancelling "
                                       "it would not bring the goods back", expected="UNFULFILLED", current=fulfillment)
        await self.orders.cancel(order, reason="OTHER", refund=True, restock=True, notify_customer=False,
                                 staff_note=with_marker("Pivot saga unwound", keys.compensation))
        return CompensationReport(state="compensated", detail=f"Shopify order {name} cancelled, refunded and "
                                                              "restocked")

    async def _completed_order_id(self, draft_id: str) -> str | None:
        draft = await self.get(draft_id)
        if draft is None or draft.get("status") != COMPLETED:
            return None
        order_id = (draft.get("order") or {}).get("id")
        return str(order_id) if order_id else None
