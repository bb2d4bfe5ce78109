"""The Stripe sandbox's payments over real HTTP: PaymentIntents with test cards, refunds and the
refundable balance, invoice send, customer listing, and the request recorder."""

from __future__ import annotations

from typing import Any

import httpx

from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID

CUSTOMER = SEED_CUSTOMER_ID


def create_intent(client: httpx.Client, amount: int = 2000, key: str | None = None, **extra: str) -> httpx.Response:
    data = {"amount": str(amount), "currency": "usd", "customer": CUSTOMER, **extra}
    return client.post("/v1/payment_intents", data=data, headers={"Idempotency-Key": key} if key else {})


def paid_intent(client: httpx.Client, amount: int = 2000) -> dict[str, Any]:
    response = create_intent(client, amount, payment_method="pm_card_visa", confirm="true")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "succeeded"
    return body


def effects(client: httpx.Client, **query: str) -> list[dict[str, Any]]:
    return list(client.get("/_sandbox/ledger", params=query).json()["effects"])


def test_intent_statuses_follow_stripes_state_machine(stripe: httpx.Client) -> None:
    bare = create_intent(stripe).json()
    assert (bare["status"], bare["payment_method"], bare["amount_received"]) == ("requires_payment_method", None, 0)
    assert bare["id"].startswith("pi_") and bare["client_secret"].startswith(f"{bare['id']}_secret_")

    confirmed = stripe.post(f"/v1/payment_intents/{bare['id']}/confirm", data={"payment_method": "pm_card_visa"})
    body = confirmed.json()
    assert (body["status"], body["amount_received"], body["amount_capturable"]) == ("succeeded", 2000, 0)
    charge = stripe.get(f"/v1/charges/{body['latest_charge']}").json()
    assert (charge["amount_captured"], charge["paid"], charge["status"]) == (2000, True, "succeeded")

    again = stripe.post(f"/v1/payment_intents/{bare['id']}/confirm")
    assert again.status_code == 400 and again.json()["error"]["code"] == "payment_intent_unexpected_state"


def test_manual_capture_holds_then_captures(stripe: httpx.Client) -> None:
    held = create_intent(stripe, 3000, payment_method="pm_card_visa", confirm="true", capture_method="manual").json()
    assert (held["status"], held["amount_capturable"], held["amount_received"]) == ("requires_capture", 3000, 0)
    captured = stripe.post(f"/v1/payment_intents/{held['id']}/capture", data={"amount_to_capture": "2500"}).json()
    assert (captured["status"], captured["amount_received"]) == ("succeeded", 2500)


def test_a_declined_card_is_a_saved_402_and_leaves_the_intent_retryable(stripe: httpx.Client) -> None:
    response = create_intent(stripe, key="k-decline", payment_method="pm_card_chargeDeclined", confirm="true")

    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "generic_decline")
    intent = stripe.get(f"/v1/payment_intents/{error['payment_intent']['id']}").json()
    assert intent["status"] == "requires_payment_method" and intent["last_payment_error"]["code"] == "card_declined"
    replay = create_intent(stripe, key="k-decline", payment_method="pm_card_chargeDeclined", confirm="true")
    assert replay.status_code == 402 and replay.headers["Idempotent-Replayed"] == "true"
    assert [e["op"] for e in effects(stripe, object="payment_intent")] == ["create", "confirm"]


def test_authentication_required_stops_in_requires_action(stripe: httpx.Client) -> None:
    intent = create_intent(stripe, payment_method="pm_card_authenticationRequired", confirm="true").json()
    assert intent["status"] == "requires_action" and intent["next_action"]["type"] == "use_stripe_sdk"


def test_cancel_only_before_success(stripe: httpx.Client) -> None:
    open_intent = create_intent(stripe, payment_method="pm_card_visa").json()
    canceled = stripe.post(f"/v1/payment_intents/{open_intent['id']}/cancel",
                           data={"cancellation_reason": "abandoned"}).json()
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "abandoned")

    succeeded = paid_intent(stripe)
    refused = stripe.post(f"/v1/payment_intents/{succeeded['id']}/cancel")
    assert refused.status_code == 400
    assert "status of succeeded" in refused.json()["error"]["message"]


def test_unknown_payment_method_and_missing_amount_are_refused(stripe: httpx.Client) -> None:
    unknown = create_intent(stripe, payment_method="pm_card_nope")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "resource_missing"
    missing = stripe.post("/v1/payment_intents", data={"currency": "usd"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "amount"


def test_refunds_never_exceed_the_refundable_balance(stripe: httpx.Client) -> None:
    intent = paid_intent(stripe, 5000)
    partial = stripe.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "1500",
                                               "metadata[pivot_key]": "pv1_r"}).json()
    assert (partial["amount"], partial["status"], partial["charge"]) == (1500, "succeeded", intent["latest_charge"])

    too_much = stripe.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "3501"})
    assert too_much.status_code == 400 and too_much.json()["error"]["code"] == "amount_too_large"
    rest = stripe.post("/v1/refunds", data={"payment_intent": intent["id"]}).json()
    assert rest["amount"] == 3500
    done = stripe.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "1"})
    assert done.status_code == 400 and done.json()["error"]["code"] == "charge_already_refunded"

    listed = stripe.get("/v1/refunds", params={"payment_intent": intent["id"]}).json()
    assert [r["amount"] for r in listed["data"]] == [3500, 1500]  # newest first
    assert stripe.get(f"/v1/refunds/{partial['id']}").json()["metadata"] == {"pivot_key": "pv1_r"}
    charge = stripe.get(f"/v1/charges/{intent['latest_charge']}").json()
    assert (charge["amount_refunded"], charge["refunded"]) == (5000, True)


def test_an_intent_without_a_successful_charge_cannot_be_refunded(stripe: httpx.Client) -> None:
    intent = create_intent(stripe).json()
    refused = stripe.post("/v1/refunds", data={"payment_intent": intent["id"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "charge_not_refundable"


def test_list_intents_and_customers_filter_and_page(stripe: httpx.Client) -> None:
    first, second = create_intent(stripe, 100).json(), create_intent(stripe, 200).json()
    page = stripe.get("/v1/payment_intents", params={"customer": CUSTOMER, "limit": "1"}).json()
    assert [pi["id"] for pi in page["data"]] == [second["id"]] and page["has_more"] is True
    older = stripe.get("/v1/payment_intents", params={"customer": CUSTOMER, "starting_after": second["id"]}).json()
    assert [pi["id"] for pi in older["data"]] == [first["id"]]

    made = stripe.post("/v1/customers", data={"email": "list@example.com"}).json()
    found = stripe.get("/v1/customers", params={"email": "list@example.com"}).json()
    assert [c["id"] for c in found["data"]] == [made["id"]]
    stripe.delete(f"/v1/customers/{made['id']}").raise_for_status()
    assert stripe.get("/v1/customers", params={"email": "list@example.com"}).json()["data"] == []


def test_send_emails_a_finalized_send_invoice_and_is_an_effect(stripe: httpx.Client) -> None:
    draft = stripe.post("/v1/invoices", data={"customer": CUSTOMER, "collection_method": "send_invoice",
                                              "days_until_due": "7"}).json()
    early = stripe.post(f"/v1/invoices/{draft['id']}/send")
    assert early.status_code == 400 and early.json()["error"]["code"] == "invoice_not_editable"
    stripe.post("/v1/invoiceitems", data={"customer": CUSTOMER, "invoice": draft["id"], "amount": "900",
                                          "currency": "usd"}).raise_for_status()
    stripe.post(f"/v1/invoices/{draft['id']}/finalize").raise_for_status()

    sent = stripe.post(f"/v1/invoices/{draft['id']}/send", headers={"Idempotency-Key": "k-send"})
    replay = stripe.post(f"/v1/invoices/{draft['id']}/send", headers={"Idempotency-Key": "k-send"})

    assert sent.status_code == 200 and sent.json()["status"] == "open"
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert [e["idempotency_key"] for e in effects(stripe, op="send")] == ["k-send"]


def test_the_recorder_keeps_requests_answers_and_no_credentials(stripe: httpx.Client) -> None:
    stripe.delete("/_sandbox/requests").raise_for_status()
    stripe.post("/v1/customers", data={"email": "rec@example.com", "metadata[k]": "v"},
                headers={"Idempotency-Key": "k-rec"})
    stripe.post("/_sandbox/faults", json={"method": "GET", "path": "/v1/customers/*", "action": "error",
                                          "status": 503, "times": 1})
    stripe.get(f"/v1/customers/{CUSTOMER}")

    recorded = stripe.get("/_sandbox/requests").json()["requests"]

    assert [(r["method"], r["path"], r["status"]) for r in recorded] == [
        ("POST", "/v1/customers", 200), ("GET", f"/v1/customers/{CUSTOMER}", 503)]
    create = recorded[0]
    assert create["body"] == "email=rec%40example.com&metadata%5Bk%5D=v"
    assert create["headers"]["idempotency-key"] == "k-rec" and create["headers"]["authorization"] == "[redacted]"
    assert create["response_body"]["email"] == "rec@example.com"
    assert "sk_test" not in str(recorded)
    after_reset = stripe.post("/_sandbox/reset")
    assert after_reset.status_code == 204 and stripe.get("/_sandbox/requests").json()["requests"] == []

