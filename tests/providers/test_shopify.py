"""The Shopify client and actions against the Shopify shopify_sandbox, over real HTTP.

Each scenario proves an effect count from the sandbox's ledger, not from what the client says:
one draft per step key even when the answer to the write was lost, a compensation that runs
twice and still deletes or cancels once, a refund replayed by `@idempotent` without a second
refund. Lost answers use the kit's `commit_then_timeout` against a 1 s client timeout.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.providers.shopify import documents
from pivot.providers.shopify.views import KEY_ATTRIBUTE, key_tag
from tests.providers.shopify_fixtures import (
    TOKEN_ENV,
    Harness,
    Instruments,
    OneSandbox,
    run,
)

CREATE, COMPLETE = "shopify.create_draft_order", "shopify.complete_draft_order"
CANCEL, REFUND = "shopify.cancel_order", "shopify.refund"
TEE = "gid://shopify/ProductVariant/44000000001"  # a seeded variant: 25.00 USD
DRAFT = {
    "line_items": [{"title": "Pro plan", "price": "12.00", "quantity": 2}, {"variant_id": TEE, "quantity": 1}],
    "email": "ada@example.com",
    "note": "first order",
    "tags": ["agent"],
}


@pytest.fixture
def url(shopify_sandbox: OneSandbox) -> str:
    return shopify_sandbox.url


async def completed_order(h: Harness, *, payment_pending: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    draft = await h.forward(CREATE, DRAFT, step="draft")
    order = await h.forward(COMPLETE, {"draft_order": draft["id"], "payment_pending": payment_pending},
                            step="complete")
    return draft, order


# ---------------------------------------------------------------------- the wire


def test_wrong_token_is_shopifys_401_and_terminal(url: str, box: Instruments, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = httpx.post(f"{url}/admin/api/2026-01/graphql.json", json={"query": "{ job(id: \"x\") { id } }"},
                     headers={"X-Shopify-Access-Token": "not-a-token"})
    assert raw.status_code == 401
    assert raw.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}

    monkeypatch.setenv(TOKEN_ENV, "wrong")

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderRejected) as refused:
            await h.forward(CREATE, DRAFT)
        assert refused.value.info.code == "unauthorized"

    run(url, scenario)
    assert box.effects() == []


def test_every_answer_carries_cost_and_shopify_shapes(box: Instruments) -> None:
    body = box.graphql(documents.DRAFT_ORDER_CREATE, {"input": {
        "lineItems": [{"title": "Pro plan", "quantity": 1,
                       "originalUnitPriceWithCurrency": {"amount": "12.00", "currencyCode": "USD"}}]}})
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] >= 10 and cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0
    draft_id = body["data"]["draftOrderCreate"]["draftOrder"]["id"]
    assert draft_id.startswith("gid://shopify/DraftOrder/")
    draft = box.graphql(documents.DRAFT_ORDER, {"id": draft_id})["data"]["draftOrder"]
    assert draft["name"] == "#D1" and draft["status"] == "OPEN"
    assert draft["totalPriceSet"]["shopMoney"] == {"amount": "12.0", "currencyCode": "USD"}
    unknown = box.graphql("{ draftOrder(id: \"gid://shopify/DraftOrder/1\") { id total } }")
    assert unknown["errors"][0]["message"] == "Field 'total' doesn't exist on type 'DraftOrder'"
    assert "data" not in unknown


# ---------------------------------------------------------------------- create_draft_order


def test_create_draft_order_carries_the_key_and_verifies_the_draft(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[dict[str, Any], dict[str, Any], str]:
        result = await h.forward(CREATE, DRAFT)
        again = await h.forward(CREATE, DRAFT)  # a replay of the step finds the same draft
        assert again == result
        return result, await h.draft(result["id"]), h.keys("s1", CREATE).forward

    result, draft, key = run(url, scenario)
    assert result["ref"].startswith("shopify:draft_order/") and result["name"] == "#D1"
    assert (result["subtotal"], result["total"], result["currency"]) == ("49.00", "49.00", "USD")
    assert result["line_items"] == 2
    assert {"key": KEY_ATTRIBUTE, "value": key} in draft["customAttributes"]
    assert key_tag(key) in draft["tags"] and len(key_tag(key)) <= 40 and "agent" in draft["tags"]
    effects = box.effects(op="create", obj="draft_order")
    assert [(e["id"], e["idempotency_key"]) for e in effects] == [(result["id"], key)]


def test_create_draft_order_after_a_lost_answer_is_found_by_key(url: str, box: Instruments) -> None:
    # request 1 is the lookup by tag, request 2 the draftOrderCreate whose answer is lost
    rule = box.fault_on_request(2, action="commit_then_timeout")

    async def scenario(h: Harness) -> dict[str, Any]:
        with pytest.raises(ProviderUnavailable) as lost:
            await h.forward(CREATE, DRAFT)
        assert lost.value.ambiguous
        return await h.forward(CREATE, DRAFT)  # the engine's next attempt

    result = run(url, scenario)
    assert box.hits(rule) == 1
    effects = box.effects(op="create", obj="draft_order")
    assert len(effects) == 1 and effects[0]["id"] == result["id"]


def test_draft_user_errors_are_terminal_and_write_nothing(url: str, box: Instruments) -> None:
    unknown_variant = {"line_items": [{"variant_id": "gid://shopify/ProductVariant/1", "quantity": 1}]}

    async def scenario(h: Harness) -> None:
        with pytest.raises(ProviderRejected) as refused:
            await h.forward(CREATE, unknown_variant)
        assert refused.value.info.code == "user_error"
        assert "no longer available" in refused.value.info.message
        assert refused.value.info.detail is not None
        assert refused.value.info.detail["field"] == ["lineItems", "0", "variantId"]

    run(url, scenario)
    assert box.effects() == []


def test_deleting_the_draft_is_idempotent_and_works_without_the_result(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> list[str]:
        result = await h.forward(CREATE, DRAFT)
        first = await h.compensate(CREATE, DRAFT, None)  # the forward answer was "lost": found by key
        second = await h.compensate(CREATE, DRAFT, result)  # a rerun after a crash
        third = await h.compensate(CREATE, DRAFT, None)
        assert await h.shop.draft(result["id"]) is None
        return [first.state, second.state, third.state]

    assert run(url, scenario) == ["compensated", "compensated", "nothing_to_undo"]
    assert len(box.effects(op="delete", obj="draft_order")) == 1


def test_a_draft_never_created_has_nothing_to_undo(url: str, box: Instruments) -> None:
    report = run(url, lambda h: h.compensate(CREATE, DRAFT, None))
    assert report.state == "nothing_to_undo"
    assert box.effects() == []


def test_a_draft_completed_meanwhile_is_a_conflict(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[CompensationConflict, str]:
        result = await h.forward(CREATE, DRAFT)
        box.graphql(documents.DRAFT_ORDER_COMPLETE, {"id": result["id"], "paymentPending": True})  # someone else
        with pytest.raises(CompensationConflict) as conflict:
            await h.compensate(CREATE, DRAFT, result)
        draft = await h.draft(result["id"])
        return conflict.value, draft["status"]

    conflict, status = run(url, scenario)
    assert conflict.info.detail == {"expected": "OPEN", "current": "COMPLETED"}
    assert status == "COMPLETED"
    assert box.effects(op="delete") == [] and box.effects(op="cancel") == []


# ---------------------------------------------------------------------- complete_draft_order


def test_complete_draft_order_verifies_the_order_and_completes_once(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        draft, order = await completed_order(h)
        again = await h.forward(COMPLETE, {"draft_order": draft["id"]}, step="complete")  # replay: already COMPLETED
        return draft, order, again

    draft, order, again = run(url, scenario)
    assert again == order
    assert order["ref"].startswith("shopify:order/") and order["name"] == "#1001"
    assert (order["financial_status"], order["total"], order["draft_order"]) == ("PAID", "49.00", draft["id"])
    completions = box.effects(op="complete", obj="draft_order")
    assert [(e["id"], e["detail"]["order"]) for e in completions] == [(draft["id"], order["id"])]


def test_complete_with_payment_pending_leaves_the_order_pending(url: str, box: Instruments) -> None:
    _, order = run(url, lambda h: completed_order(h, payment_pending=True))
    assert order["financial_status"] == "PENDING"


def test_complete_after_a_lost_answer_completes_once(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> dict[str, Any]:
        draft = await h.forward(CREATE, DRAFT, step="draft")
        # request 1 reads the draft, request 2 is the draftOrderComplete whose answer is lost
        rule = box.fault_on_request(2, action="commit_then_timeout")
        with pytest.raises(ProviderUnavailable):
            await h.forward(COMPLETE, {"draft_order": draft["id"]}, step="complete")
        assert box.hits(rule) == 1
        return await h.forward(COMPLETE, {"draft_order": draft["id"]}, step="complete")

    order = run(url, scenario)
    assert len(box.effects(op="complete")) == 1
    assert [e["id"] for e in box.effects(op="create", obj="order")] == [order["id"]]


def test_undoing_a_completion_cancels_refunds_and_restocks_once(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[list[str], dict[str, Any], dict[str, Any], str]:
        draft, order = await completed_order(h)
        params = {"draft_order": draft["id"]}
        first = await h.compensate(COMPLETE, params, order, step="complete")
        second = await h.compensate(COMPLETE, params, None, step="complete")  # found through the draft
        current = await h.order(order["id"])
        draft_undo = await h.compensate(CREATE, DRAFT, draft, step="draft")  # its order is cancelled: undone
        return [first.state, second.state, draft_undo.state], order, current, h.keys("complete", COMPLETE).compensation

    states, order, current, key = run(url, scenario)
    assert states == ["compensated", "compensated", "compensated"]
    assert current["cancelledAt"] is not None and current["cancelReason"] == "OTHER"
    assert current["displayFinancialStatus"] == "REFUNDED"
    cancels = box.effects(op="cancel", obj="order")
    assert len(cancels) == 1 and cancels[0]["id"] == order["id"]
    assert cancels[0]["detail"]["refund"] is True and cancels[0]["detail"]["restock"] is True
    refunds = box.effects(op="create", obj="refund")
    assert cancels[0]["idempotency_key"] == key  # the compensation key, from the staff note
    assert [(e["detail"]["amount"], e["idempotency_key"]) for e in refunds] == [("49.00", key)]


def test_a_fulfilled_order_is_a_conflict_for_the_completions_undo(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> CompensationConflict:
        draft, order = await completed_order(h)
        box.fulfill(order["id"])
        with pytest.raises(CompensationConflict) as conflict:
            await h.compensate(COMPLETE, {"draft_order": draft["id"]}, order, step="complete")
        return conflict.value

    conflict = run(url, scenario)
    assert conflict.info.detail == {"expected": "UNFULFILLED", "current": "FULFILLED"}
    assert box.effects(op="cancel") == []


def test_fulfilling_an_order_ships_its_one_fulfillment_order_once(url: str, box: Instruments) -> None:
    _, order = run(url, completed_order)
    listed = box.graphql(documents.FULFILLMENT_ORDERS, {"id": order["id"]})["data"]["order"]["fulfillmentOrders"]
    [open_order] = listed["nodes"]
    assert open_order["status"] == "OPEN"
    ship = {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": open_order["id"]}]}}
    shipped = box.graphql(documents.FULFILLMENT_CREATE, ship)["data"]["fulfillmentCreate"]
    assert shipped["userErrors"] == [] and shipped["fulfillment"]["status"] == "SUCCESS"
    again = box.graphql(documents.FULFILLMENT_CREATE, ship)["data"]["fulfillmentCreate"]
    assert again["fulfillment"] is None and "not in an open state" in again["userErrors"][0]["message"]
    after = box.graphql(documents.ORDER, {"id": order["id"]})["data"]["order"]
    assert after["displayFulfillmentStatus"] == "FULFILLED"
    assert [(e["op"], e["id"]) for e in box.effects(op="fulfill")] == [("fulfill", order["id"])]


def test_an_uncompleted_draft_leaves_nothing_for_the_completions_undo(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> str:
        draft = await h.forward(CREATE, DRAFT, step="draft")
        report = await h.compensate(COMPLETE, {"draft_order": draft["id"]}, None, step="complete")
        return report.state

    assert run(url, scenario) == "nothing_to_undo"
    assert box.effects(op="complete") == [] and box.effects(op="cancel") == []


# ---------------------------------------------------------------------- cancel_order


def test_cancel_order_is_idempotent_even_when_the_answer_is_lost(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[dict[str, Any], dict[str, Any], str]:
        _, order = await completed_order(h)
        params = {"order": order["id"], "reason": "CUSTOMER", "staff_note": "customer asked"}
        # request 1 reads the order, request 2 is the orderCancel whose answer is lost
        rule = box.fault_on_request(2, action="commit_then_timeout")
        with pytest.raises(ProviderUnavailable):
            await h.forward(CANCEL, params, step="cancel")
        assert box.hits(rule) == 1
        result = await h.forward(CANCEL, params, step="cancel")  # finds the cancellation running, waits for it
        again = await h.forward(CANCEL, params, step="cancel")  # an already-cancelled order is success
        assert again == result
        return order, result, h.keys("cancel", CANCEL).forward

    order, result, key = run(url, scenario)
    assert result["id"] == order["id"] and result["cancelled_at"] and result["cancel_reason"] == "CUSTOMER"
    assert result["financial_status"] == "REFUNDED"
    cancels = box.effects(op="cancel", obj="order")
    assert [(e["id"], e["idempotency_key"]) for e in cancels] == [(order["id"], key)]


# ---------------------------------------------------------------------- refund


def test_refund_is_created_once_verified_and_replayed(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
        _, order = await completed_order(h)
        params = {"order": order["id"], "amount": "10.50", "currency": "USD", "note": "goodwill"}
        result = await h.forward(REFUND, params, step="refund")
        again = await h.forward(REFUND, params, step="refund")
        current = await h.order(order["id"])
        return result, again, current, h.keys("refund", REFUND).forward

    result, again, current, key = run(url, scenario)
    assert again == result
    assert result["ref"].startswith("shopify:refund/") and (result["amount"], result["currency"]) == ("10.50", "USD")
    assert current["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    assert current["totalRefundedSet"]["shopMoney"]["amount"] == "10.5"
    refunds = box.effects(op="create", obj="refund")
    assert [(e["id"], e["idempotency_key"]) for e in refunds] == [(result["id"], key)]


def test_refund_after_a_lost_answer_refunds_once(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> dict[str, Any]:
        _, order = await completed_order(h)
        params = {"order": order["id"], "amount": "5.00"}
        # request 1 is the lookup (the order's refunds), request 2 the write's read of the order's payments,
        # request 3 the refundCreate whose answer is lost
        rule = box.fault_on_request(3, action="commit_then_timeout")
        with pytest.raises(ProviderUnavailable):
            await h.forward(REFUND, params, step="refund")
        assert box.hits(rule) == 1
        assert len(box.effects(op="create", obj="refund")) == 1  # it was the refundCreate that landed
        return await h.forward(REFUND, params, step="refund")

    result = run(url, scenario)
    assert [e["id"] for e in box.effects(op="create", obj="refund")] == [result["id"]]


def test_refunding_more_than_was_paid_is_terminal(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> None:
        _, order = await completed_order(h)
        with pytest.raises(ProviderRejected) as refused:
            await h.forward(REFUND, {"order": order["id"], "amount": "49.01"}, step="refund")
        assert refused.value.info.code == "amount_exceeds_refundable"
        # Shopify itself refuses a refund over what is left on the payment: a userError, terminal
        payment = (await h.order(order["id"]))["transactions"][0]
        refund_input = {"orderId": order["id"], "transactions": [{"orderId": order["id"], "parentId": payment["id"],
                                                                  "amount": "60.00", "gateway": "manual",
                                                                  "kind": "REFUND"}]}
        with pytest.raises(ProviderRejected) as shopify_refused:
            await h.client.mutate(documents.REFUND_CREATE, {"input": refund_input, "idempotencyKey": "pv1_over"},
                                  "refundCreate")
        assert shopify_refused.value.info.code == "user_error"
        assert shopify_refused.value.info.detail is not None
        assert shopify_refused.value.info.detail["field"] == ["transactions", "0", "amount"]

    run(url, scenario)
    assert box.effects(op="create", obj="refund") == []


# ---------------------------------------------------------------------- @idempotent


def _refund_input(order: dict[str, Any], payment: dict[str, Any], amount: str) -> dict[str, Any]:
    return {"orderId": order["id"], "note": "direct", "transactions": [
        {"orderId": order["id"], "parentId": payment["id"], "amount": amount, "gateway": "manual", "kind": "REFUND"}]}


async def _paid_order_and_payment(h: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    _, order = await completed_order(h)
    full = await h.order(order["id"])
    return full, full["transactions"][0]


def test_idempotent_directive_replays_and_refuses_a_changed_request(url: str, box: Instruments) -> None:
    key = "pv1_" + "ab" * 32

    async def scenario(h: Harness) -> tuple[str, str, ProviderRejected]:
        order, payment = await _paid_order_and_payment(h)
        variables = {"input": _refund_input(order, payment, "3.00"), "idempotencyKey": key}
        first = await h.client.mutate(documents.REFUND_CREATE, variables, "refundCreate")
        replay = await h.client.mutate(documents.REFUND_CREATE, variables, "refundCreate")
        changed = {"input": _refund_input(order, payment, "4.00"), "idempotencyKey": key}
        with pytest.raises(ProviderRejected) as mismatch:
            await h.client.mutate(documents.REFUND_CREATE, changed, "refundCreate")
        return first["refund"]["id"], replay["refund"]["id"], mismatch.value

    first, replay, mismatch = run(url, scenario)
    assert replay == first
    assert mismatch.info.code == "idempotency_key_parameter_mismatch"
    assert [(e["id"], e["idempotency_key"]) for e in box.effects(op="create", obj="refund")] == [(first, key)]


def test_idempotent_request_in_progress_is_transient(url: str, box: Instruments) -> None:
    key = "pv1_" + "cd" * 32

    async def scenario(h: Harness) -> list[Any]:
        order, payment = await _paid_order_and_payment(h)
        variables = {"input": _refund_input(order, payment, "2.00"), "idempotencyKey": key}
        box.fault(action="latency", latency_ms=700, times=1)  # whichever arrives first holds the key this long
        return list(await asyncio.gather(
            h.client.mutate(documents.REFUND_CREATE, variables, "refundCreate"),
            h.client.mutate(documents.REFUND_CREATE, variables, "refundCreate"),
            return_exceptions=True,
        ))

    outcomes = run(url, scenario, timeout_s=5.0)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], ProviderUnavailable), outcomes
    assert "in progress" in failures[0].message
    assert len(box.effects(op="create", obj="refund")) == 1


def test_version_2025_10_does_not_know_the_directive(url: str, box: Instruments) -> None:
    async def scenario(h: Harness) -> ProviderRejected:
        with pytest.raises(ProviderRejected) as refused:
            await h.client.mutate(documents.REFUND_CREATE, {"input": {"orderId": "gid://shopify/Order/1"},
                                                            "idempotencyKey": "pv1_x"}, "refundCreate")
        return refused.value

    refused = run(url, scenario, version="2025-10")
    assert refused.info.code == "undefineddirective"
    assert "Directive @idempotent is not defined" in refused.info.message


# ---------------------------------------------------------------------- throttling and outages


def test_throttled_is_transient_with_a_wait_from_the_bucket(url: str, box: Instruments) -> None:
    box.fault(action="rate_limit", retry_after=2, times=1)

    async def scenario(h: Harness) -> ProviderUnavailable:
        with pytest.raises(ProviderUnavailable) as throttled:
            await h.forward(CREATE, DRAFT)
        return throttled.value

    throttled = run(url, scenario)
    assert throttled.retry_after_s == pytest.approx(2.0)
    assert not throttled.ambiguous
    assert box.effects() == []


def test_a_429_throttle_is_transient_too(url: str, box: Instruments) -> None:
    box.fault(action="error", status=429, times=1)

    async def scenario(h: Harness) -> ProviderUnavailable:
        with pytest.raises(ProviderUnavailable) as throttled:
            await h.forward(CREATE, DRAFT)
        return throttled.value

    throttled = run(url, scenario)
    # The 429 carries Shopify's THROTTLED body, so the wait comes from the bucket, not a guess.
    assert "throttled" in throttled.message and (throttled.retry_after_s or 0) > 0


def test_the_real_bucket_throttles_and_charges_only_the_actual_cost(url: str, box: Instruments) -> None:
    heavy = "query Heavy { draftOrders(first: 224) { nodes { id lineItems(first: 1) { nodes { id } } } } }"
    priced = box.graphql(heavy)["extensions"]["cost"]
    assert priced["requestedQueryCost"] == 898 and priced["actualQueryCost"] == 2  # no drafts: 2 points spent
    assert priced["throttleStatus"]["currentlyAvailable"] >= 1990
    assert box.drain_bucket(100)["currentlyAvailable"] == 100  # as if other calls had spent the rest

    async def scenario(h: Harness) -> ProviderUnavailable:
        with pytest.raises(ProviderUnavailable) as throttled:
            await h.client.execute(heavy)
        return throttled.value

    throttled = run(url, scenario)
    # (898 requested - about 100 available) / 100 points per second
    assert throttled.retry_after_s is not None and 6.0 < throttled.retry_after_s < 8.0
    assert box.effects() == []


def test_an_internal_error_is_ambiguous(url: str, box: Instruments) -> None:
    box.fault(action="error", status=500, times=1)

    async def scenario(h: Harness) -> ProviderUnavailable:
        with pytest.raises(ProviderUnavailable) as failed:
            await h.client.execute(documents.JOB, {"id": "gid://shopify/Job/1"})
        return failed.value

    assert run(url, scenario).ambiguous


def test_money_in_results_is_exact(url: str, box: Instruments) -> None:
    params = {"line_items": [{"title": "Third", "price": "0.10", "quantity": 3}]}
    result = run(url, lambda h: h.forward(CREATE, params))
    assert Decimal(result["subtotal"]) == Decimal("0.30") and result["subtotal"] == "0.30"
