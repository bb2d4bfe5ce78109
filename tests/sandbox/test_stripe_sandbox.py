"""The Stripe sandbox over real HTTP: wire format, invoice lifecycle, idempotency, faults, ledger."""

from __future__ import annotations

import base64
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID, parse_form
from pivot.services.local.processes import wait_until
from tests.sandbox.process import STRIPE_KEY

CUSTOMER = SEED_CUSTOMER_ID


def effects(client: httpx.Client, key: str | None = None) -> list[dict[str, Any]]:
    params = {"key": key} if key is not None else None
    response = client.get("/_sandbox/ledger", params=params)
    response.raise_for_status()
    return list(response.json()["effects"])


def add_fault(client: httpx.Client, **rule: Any) -> dict[str, Any]:
    response = client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_invoice(client: httpx.Client, key: str | None = None, **extra: str) -> httpx.Response:
    data = {"customer": CUSTOMER, "collection_method": "send_invoice", "days_until_due": "30", **extra}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/invoices", data=data, headers=headers)


def add_item(client: httpx.Client, invoice_id: str, amount: int, description: str) -> dict[str, Any]:
    response = client.post(
        "/v1/invoiceitems",
        data={
            "customer": CUSTOMER,
            "invoice": invoice_id,
            "amount": str(amount),
            "currency": "usd",
            "description": description,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --------------------------------------------------------------------------- wire format


def test_parse_form_follows_stripes_bracket_nesting() -> None:
    parsed = parse_form(
        "customer=cus_1&metadata[k]=v&metadata[pivot_key]=pv1_x&expand[]=customer&expand[]=lines"
        "&lines[0][amount]=100&lines[1][amount]=200&lines[0][currency]=usd&empty="
    )
    assert parsed == {
        "customer": "cus_1",
        "metadata": {"k": "v", "pivot_key": "pv1_x"},
        "expand": ["customer", "lines"],
        "lines": [{"amount": "100", "currency": "usd"}, {"amount": "200"}],
        "empty": "",
    }


def test_missing_api_key_is_refused_with_stripes_401(stripe_url: str) -> None:
    response = httpx.get(f"{stripe_url}/v1/customers/{CUSTOMER}")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]
    assert response.headers["Request-Id"].startswith("req_")


def test_invalid_api_key_is_refused_without_echoing_it(stripe_url: str) -> None:
    secret = "pk_test_thisIsNotASecretKeyButLong"
    response = httpx.get(
        f"{stripe_url}/v1/customers/{CUSTOMER}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert message.startswith("Invalid API Key provided: pk_test_")
    assert secret[8:] not in message


def test_basic_auth_with_the_key_as_user_is_accepted(stripe_url: str) -> None:
    token = base64.b64encode(f"{STRIPE_KEY}:".encode()).decode()
    response = httpx.get(f"{stripe_url}/v1/customers/{CUSTOMER}", headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_every_response_has_a_request_id(stripe: httpx.Client) -> None:
    for response in (
        stripe.get(f"/v1/customers/{CUSTOMER}"),
        stripe.get("/v1/invoices/in_nope"),
        stripe.get("/v1/nowhere"),
    ):
        assert re.fullmatch(r"req_[A-Za-z0-9]{14,}", response.headers["Request-Id"])


def test_unknown_parameter_and_unknown_url_are_refused(stripe: httpx.Client) -> None:
    response = stripe.post("/v1/customers", data={"emial": "x@example.com"})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Received unknown parameter: emial",
        "code": "parameter_unknown",
        "param": "emial",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
    }
    response = stripe.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nowhere)")
    assert effects(stripe) == []


# --------------------------------------------------------------------------- customers


def test_customer_create_read_delete(stripe: httpx.Client) -> None:
    response = stripe.post(
        "/v1/customers",
        data={"email": "grace@example.com", "name": "Grace Hopper", "metadata[team]": "navy"},
        headers={"Idempotency-Key": "c1"},
    )
    assert response.status_code == 200
    customer = response.json()
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14,}", customer["id"])
    assert customer["object"] == "customer"
    assert customer["metadata"] == {"team": "navy"}
    assert stripe.get(f"/v1/customers/{customer['id']}").json()["email"] == "grace@example.com"

    deleted = stripe.delete(f"/v1/customers/{customer['id']}")
    assert deleted.json() == {"id": customer["id"], "object": "customer", "deleted": True}
    assert stripe.get(f"/v1/customers/{customer['id']}").json() == deleted.json()
    assert [(e["op"], e["object"], e["id"]) for e in effects(stripe)] == [
        ("create", "customer", customer["id"]),
        ("delete", "customer", customer["id"]),
    ]
    assert effects(stripe)[0]["idempotency_key"] == "c1"


# --------------------------------------------------------------------------- invoices


def test_invoice_lifecycle_draft_items_finalize_void(stripe: httpx.Client) -> None:
    response = create_invoice(
        stripe, "inv-1", **{"metadata[pivot_key]": "pv1_abc", "description": "Pro plan"}
    )
    assert response.status_code == 200, response.text
    invoice = response.json()
    assert re.fullmatch(r"in_[A-Za-z0-9]{14,}", invoice["id"])
    assert invoice["status"] == "draft"
    assert (invoice["amount_due"], invoice["total"], invoice["currency"], invoice["number"]) == (
        0,
        0,
        "usd",
        None,
    )
    assert invoice["lines"] == {
        "object": "list",
        "data": [],
        "has_more": False,
        "url": f"/v1/invoices/{invoice['id']}/lines",
    }
    assert invoice["metadata"] == {"pivot_key": "pv1_abc"}

    item = add_item(stripe, invoice["id"], 12000, "Pro plan")
    assert re.fullmatch(r"ii_[A-Za-z0-9]{14,}", item["id"])
    second = stripe.post(
        "/v1/invoiceitems",
        data={
            "customer": CUSTOMER,
            "invoice": invoice["id"],
            "unit_amount": "500",
            "quantity": "3",
            "description": "Seats",
        },
    ).json()
    assert (second["amount"], second["quantity"], second["unit_amount"]) == (1500, 3, 500)

    draft = stripe.get(f"/v1/invoices/{invoice['id']}").json()
    lines = draft["lines"]["data"]
    assert [(line["amount"], line["description"], line["invoice_item"]) for line in lines] == [
        (12000, "Pro plan", item["id"]),
        (1500, "Seats", second["id"]),
    ]
    assert all(re.fullmatch(r"il_[A-Za-z0-9]{14,}", line["id"]) for line in lines)
    assert (draft["amount_due"], draft["subtotal"], draft["total"]) == (13500, 13500, 13500)

    finalized = stripe.post(f"/v1/invoices/{invoice['id']}/finalize").json()
    assert finalized["status"] == "open"
    assert re.fullmatch(r"[A-Z0-9]{3,12}-\d{4}", finalized["number"])
    assert finalized["status_transitions"]["finalized_at"] is not None
    assert finalized["amount_due"] == 13500

    again = stripe.post(f"/v1/invoices/{invoice['id']}/finalize")
    assert again.status_code == 400
    assert again.json()["error"]["message"].startswith("This invoice is already finalized")

    voided = stripe.post(f"/v1/invoices/{invoice['id']}/void").json()
    assert voided["status"] == "void"
    assert stripe.post(f"/v1/invoices/{invoice['id']}/void").status_code == 400
    assert [e["op"] for e in effects(stripe)] == ["create", "create", "create", "finalize", "void"]
    assert effects(stripe, "inv-1")[0]["detail"]["customer"] == CUSTOMER


def test_invoice_for_unknown_customer_is_a_saved_business_error(stripe: httpx.Client) -> None:
    response = stripe.post(
        "/v1/invoices", data={"customer": "cus_nope"}, headers={"Idempotency-Key": "bad-cus"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": "No such customer: 'cus_nope'",
        "param": "customer",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
    }
    replay = stripe.post(
        "/v1/invoices", data={"customer": "cus_nope"}, headers={"Idempotency-Key": "bad-cus"}
    )
    assert replay.status_code == 400
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == response.json()


def test_validation_errors_are_not_saved_under_the_key(stripe: httpx.Client) -> None:
    response = stripe.post(
        "/v1/invoices", data={"collection_method": "send_invoice"}, headers={"Idempotency-Key": "k-valid"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_missing"
    retry = create_invoice(stripe, "k-valid")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers


def test_send_invoice_requires_days_until_due(stripe: httpx.Client) -> None:
    response = stripe.post("/v1/invoices", data={"customer": CUSTOMER, "collection_method": "send_invoice"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "days_until_due"


def test_unknown_invoice_is_404_resource_missing(stripe: httpx.Client) -> None:
    response = stripe.get("/v1/invoices/in_x")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No such invoice: 'in_x'",
            "param": "id",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        }
    }


def test_delete_works_on_drafts_only(stripe: httpx.Client) -> None:
    draft = create_invoice(stripe).json()
    assert stripe.delete(f"/v1/invoices/{draft['id']}").json() == {
        "id": draft["id"],
        "object": "invoice",
        "deleted": True,
    }
    assert stripe.get(f"/v1/invoices/{draft['id']}").status_code == 404

    other = create_invoice(stripe).json()
    add_item(stripe, other["id"], 100, "x")
    stripe.post(f"/v1/invoices/{other['id']}/finalize").raise_for_status()
    refused = stripe.delete(f"/v1/invoices/{other['id']}")
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"


def test_invoice_items_can_be_deleted_only_while_unattached_or_on_a_draft(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe).json()
    item = add_item(stripe, invoice["id"], 700, "x")
    keep = add_item(stripe, invoice["id"], 300, "y")
    assert stripe.delete(f"/v1/invoiceitems/{item['id']}").json()["deleted"] is True
    assert stripe.get(f"/v1/invoices/{invoice['id']}").json()["amount_due"] == 300
    stripe.post(f"/v1/invoices/{invoice['id']}/finalize").raise_for_status()
    assert stripe.delete(f"/v1/invoiceitems/{keep['id']}").status_code == 400

    open_invoice = stripe.post(
        "/v1/invoiceitems",
        data={"customer": CUSTOMER, "invoice": invoice["id"], "amount": "1", "currency": "usd"},
    )
    assert open_invoice.status_code == 400


def test_zero_amount_invoice_is_paid_at_finalization(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe).json()
    assert stripe.post(f"/v1/invoices/{invoice['id']}/finalize").json()["status"] == "paid"


def test_pay_then_void_is_refused(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe).json()
    add_item(stripe, invoice["id"], 2500, "x")
    stripe.post(f"/v1/invoices/{invoice['id']}/finalize").raise_for_status()
    paid = stripe.post(f"/v1/invoices/{invoice['id']}/pay").json()
    assert (paid["status"], paid["paid"], paid["amount_paid"], paid["amount_remaining"]) == (
        "paid",
        True,
        2500,
        0,
    )
    assert stripe.post(f"/v1/invoices/{invoice['id']}/void").status_code == 400


def test_list_invoices_newest_first_with_filters_and_pagination(stripe: httpx.Client) -> None:
    ids = [create_invoice(stripe).json()["id"] for _ in range(5)]
    other = stripe.post("/v1/customers", data={"email": "b@example.com"}).json()
    stripe.post("/v1/invoices", data={"customer": other["id"]}).raise_for_status()

    page = stripe.get("/v1/invoices", params={"customer": CUSTOMER, "limit": 2}).json()
    assert (page["object"], page["url"], page["has_more"]) == ("list", "/v1/invoices", True)
    assert [inv["id"] for inv in page["data"]] == ids[::-1][:2]
    rest = stripe.get(
        "/v1/invoices", params={"customer": CUSTOMER, "limit": 10, "starting_after": page["data"][-1]["id"]}
    ).json()
    assert [inv["id"] for inv in rest["data"]] == ids[::-1][2:]
    assert rest["has_more"] is False
    assert len(stripe.get("/v1/invoices").json()["data"]) == 6
    assert stripe.get("/v1/invoices", params={"status": "open"}).json()["data"] == []
    for bad in ("0", "101", "x"):
        assert stripe.get("/v1/invoices", params={"limit": bad}).status_code == 400


def test_expand_customer_on_an_invoice(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe).json()
    expanded = stripe.get(f"/v1/invoices/{invoice['id']}", params={"expand[]": "customer"}).json()
    assert expanded["customer"]["id"] == CUSTOMER
    assert expanded["customer"]["object"] == "customer"


# --------------------------------------------------------------------------- idempotency


def test_replay_returns_the_saved_response_and_applies_nothing(stripe: httpx.Client) -> None:
    first = create_invoice(stripe, "k-replay", **{"metadata[pivot_key]": "k-replay"})
    second = create_invoice(stripe, "k-replay", **{"metadata[pivot_key]": "k-replay"})
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Original-Request"] == first.headers["Request-Id"]
    assert second.json() == first.json()
    assert len(effects(stripe, "k-replay")) == 1
    assert len(stripe.get("/v1/invoices").json()["data"]) == 1


def test_same_key_with_other_params_is_an_idempotency_error(stripe: httpx.Client) -> None:
    create_invoice(stripe, "k-mismatch", description="one").raise_for_status()
    response = create_invoice(stripe, "k-mismatch", description="two")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "idempotency_error",
            "message": "Keys for idempotent requests can only be used with the same parameters they were "
            "first used with. Try using a key other than 'k-mismatch' if you meant to execute a different "
            "request.",
        }
    }
    assert len(effects(stripe, "k-mismatch")) == 1


def test_same_key_on_another_endpoint_is_an_idempotency_error(stripe: httpx.Client) -> None:
    create_invoice(stripe, "k-endpoint").raise_for_status()
    response = stripe.post(
        "/v1/customers", data={"email": "x@example.com"}, headers={"Idempotency-Key": "k-endpoint"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "idempotency_error"
    assert "same endpoint" in response.json()["error"]["message"]


def test_keys_longer_than_255_characters_are_refused(stripe: httpx.Client) -> None:
    response = create_invoice(stripe, "k" * 256)
    assert response.status_code == 400
    assert effects(stripe) == []
    assert create_invoice(stripe, "k" * 255).status_code == 200


def test_get_and_delete_ignore_the_idempotency_key(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe, "k-get").json()
    response = stripe.get(f"/v1/invoices/{invoice['id']}", headers={"Idempotency-Key": "k-get"})
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers


def test_concurrent_request_with_the_same_key_gets_409(stripe: httpx.Client) -> None:
    add_fault(stripe, method="POST", path="/v1/invoices", action="latency", latency_ms=1000, times=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(create_invoice, stripe, "k-concurrent")
        deadline = time.monotonic() + 2
        while stripe.get("/_sandbox/faults").json()["rules"][0]["hits"] == 0:
            assert time.monotonic() < deadline, "the first request never reached the sandbox"
        # The rule fires on the request line and headers; give the first request's body (written
        # separately by httpx, from another thread) a moment to arrive so its key is claimed.
        time.sleep(0.25)
        second = create_invoice(stripe, "k-concurrent")
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "idempotency_key_in_use"
        assert second.json()["error"]["type"] == "idempotency_error"
        assert "another in-progress request using this Idempotent Key" in second.json()["error"]["message"]
        assert first.result().status_code == 200
    replay = create_invoice(stripe, "k-concurrent")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(effects(stripe, "k-concurrent")) == 1


# --------------------------------------------------------------------------- faults


def test_error_fault_is_not_executed_and_not_saved(stripe: httpx.Client) -> None:
    rule = add_fault(stripe, method="POST", path="/v1/invoices", action="error", status=500, times=2)
    assert rule["id"].startswith("flt_")
    assert (rule["remaining"], rule["hits"], rule["action"]) == (2, 0, "error")
    for _ in range(2):
        response = create_invoice(stripe, "k-err")
        assert response.status_code == 500
        assert response.json()["error"]["type"] == "api_error"
    assert effects(stripe) == []
    retry = create_invoice(stripe, "k-err")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers
    assert len(effects(stripe, "k-err")) == 1
    listed = stripe.get("/_sandbox/faults").json()["rules"]
    assert [(r["remaining"], r["hits"]) for r in listed] == [(0, 2)]


def test_error_fault_with_a_custom_body_and_glob_path(stripe: httpx.Client) -> None:
    invoice = create_invoice(stripe).json()
    add_item(stripe, invoice["id"], 100, "x")
    body = {"error": {"type": "api_error", "message": "boom"}}
    add_fault(stripe, path="/v1/invoices/*/finalize", action="error", status=503, body=body, times=1)
    response = stripe.post(f"/v1/invoices/{invoice['id']}/finalize")
    assert (response.status_code, response.json()) == (503, body)
    assert stripe.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "draft"
    assert stripe.post(f"/v1/invoices/{invoice['id']}/finalize").json()["status"] == "open"


def test_commit_then_timeout_lands_the_write_and_a_retry_replays(
    stripe: httpx.Client, stripe_url: str
) -> None:
    add_fault(stripe, method="POST", path="/v1/invoices", action="commit_then_timeout", hang_s=2, times=1)
    with (
        httpx.Client(
            base_url=stripe_url, headers=stripe.headers, timeout=httpx.Timeout(5, read=1)
        ) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        create_invoice(impatient, "k-lost")
    landed = effects(stripe, "k-lost")
    assert [(e["op"], e["object"]) for e in landed] == [("create", "invoice")]
    retry = create_invoice(stripe, "k-lost")
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == landed[0]["id"]
    assert len(effects(stripe, "k-lost")) == 1


def test_rate_limit_fault_answers_like_stripe(stripe: httpx.Client) -> None:
    add_fault(stripe, method="POST", path="/v1/customers", action="rate_limit", retry_after=2, times=1)
    response = stripe.post(
        "/v1/customers", data={"email": "r@example.com"}, headers={"Idempotency-Key": "k-rl"}
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert effects(stripe) == []
    retry = stripe.post("/v1/customers", data={"email": "r@example.com"}, headers={"Idempotency-Key": "k-rl"})
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers


def test_rate_limit_without_retry_after_omits_the_header(stripe: httpx.Client) -> None:
    add_fault(stripe, path="/v1/customers/*", action="rate_limit")
    for _ in range(3):  # times null: every matching request
        response = stripe.get(f"/v1/customers/{CUSTOMER}")
        assert response.status_code == 429
        assert "Retry-After" not in response.headers


def test_latency_fault_delays_then_executes(stripe: httpx.Client) -> None:
    add_fault(stripe, method="GET", path="/v1/customers/*", action="latency", latency_ms=300, times=1)
    started = time.monotonic()
    assert stripe.get(f"/v1/customers/{CUSTOMER}").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert stripe.get(f"/v1/customers/{CUSTOMER}").status_code == 200
    rule = stripe.get("/_sandbox/faults").json()["rules"][0]
    assert (rule["hits"], rule["remaining"]) == (1, 0)  # the second request was not held: times=1 was spent


def test_latency_applies_even_where_no_route_executes(stripe: httpx.Client) -> None:
    add_fault(stripe, path="/v1/nowhere", action="latency", latency_ms=200, times=1)
    started = time.monotonic()
    assert stripe.get("/v1/nowhere").status_code == 404
    assert time.monotonic() - started >= 0.2


def test_a_rule_on_every_path_holds_each_provider_request_before_it_runs_and_never_the_instruments(
    stripe: httpx.Client,
) -> None:
    """bench/latency.py's rule (no method, path or limit) holds every provider request of a
    sandbox, whatever its method and path, before it executes, and counts each; `/_sandbox/*`,
    polled meanwhile, is neither held nor counted."""
    rule = add_fault(stripe, action="latency", latency_ms=1500)
    assert (rule["method"], rule["path"], rule["times"]) == (None, "*", None)

    def current() -> dict[str, Any]:
        return dict(stripe.get("/_sandbox/faults").json()["rules"][0])

    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(stripe.post, "/v1/customers", data={"email": "held@example.com"})
        wait_until(lambda: current()["held"] == 1, timeout_s=10, what="the create to be held")
        written_meanwhile = effects(stripe)
        assert current()["held"] == 1, "the hold ended while the ledger was read: too slow a machine"
        assert written_meanwhile == []  # held before it runs: nothing written yet
        created = held.result()
    assert created.status_code == 200
    assert [e["id"] for e in effects(stripe)] == [created.json()["id"]]
    assert stripe.get(f"/v1/customers/{created.json()['id']}").status_code == 200  # another method and path
    after = current()
    assert (after["hits"], after["held"], after["remaining"]) == (2, 0, None)


def test_commit_then_timeout_answers_a_patient_client_after_the_hang(stripe: httpx.Client) -> None:
    add_fault(stripe, method="POST", path="/v1/customers", action="commit_then_timeout", hang_s=0.3, times=1)
    started = time.monotonic()
    response = stripe.post("/v1/customers", data={"email": "late@example.com"})
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert response.headers["Request-Id"].startswith("req_")
    assert [e["id"] for e in effects(stripe)] == [response.json()["id"]]


def test_a_single_fault_rule_can_be_removed(stripe: httpx.Client) -> None:
    first = add_fault(stripe, path="/v1/customers/*", action="error", status=500)
    add_fault(stripe, path="/v1/invoices/*", action="error", status=500)
    assert stripe.delete(f"/_sandbox/faults/{first['id']}").status_code == 204
    assert stripe.delete(f"/_sandbox/faults/{first['id']}").status_code == 404
    assert [rule["path"] for rule in stripe.get("/_sandbox/faults").json()["rules"]] == ["/v1/invoices/*"]
    assert stripe.get(f"/v1/customers/{CUSTOMER}").status_code == 200


def test_faults_match_method_and_never_touch_sandbox_routes(stripe: httpx.Client) -> None:
    add_fault(stripe, path="*", action="error", status=500)
    assert stripe.get("/_sandbox/health").json() == {"ok": True}
    assert stripe.get(f"/v1/customers/{CUSTOMER}").status_code == 500
    assert stripe.delete("/_sandbox/faults").status_code == 204
    assert stripe.get("/_sandbox/faults").json() == {"rules": []}
    add_fault(stripe, method="DELETE", path="/v1/customers/*", action="error", status=502)
    assert stripe.get(f"/v1/customers/{CUSTOMER}").status_code == 200


def test_invalid_fault_rules_are_refused(stripe: httpx.Client) -> None:
    for rule in (
        {"action": "explode"},
        {"action": "latency"},
        {"action": "error", "times": 0},
        {"action": "error", "bogus": 1},
    ):
        assert stripe.post("/_sandbox/faults", json=rule).status_code == 400
    assert stripe.post("/_sandbox/faults", content=b"not json").status_code == 400


# --------------------------------------------------------------------------- ledger and reset


def test_ledger_shape_filter_and_clear(stripe: httpx.Client) -> None:
    create_invoice(stripe, "k-a").raise_for_status()
    create_invoice(stripe, "k-b").raise_for_status()
    stripe.get("/v1/invoices").raise_for_status()  # reads are never effects
    effect = effects(stripe, "k-b")[0]
    assert set(effect) == {"seq", "at", "op", "object", "id", "idempotency_key", "detail"}
    assert (effect["seq"], effect["op"], effect["object"], effect["idempotency_key"]) == (
        2,
        "create",
        "invoice",
        "k-b",
    )
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", effect["at"])
    assert stripe.delete("/_sandbox/ledger").status_code == 204
    assert effects(stripe) == []
    assert len(stripe.get("/v1/invoices").json()["data"]) == 2  # clearing the ledger keeps the state


def test_reset_clears_state_faults_and_ledger_and_reseeds(stripe: httpx.Client) -> None:
    create_invoice(stripe, "k-reset").raise_for_status()
    add_fault(stripe, path="/v1/nothing", action="error")
    assert stripe.post("/_sandbox/reset").status_code == 204
    assert stripe.get("/v1/invoices").json()["data"] == []
    assert effects(stripe) == []
    assert stripe.get("/_sandbox/faults").json() == {"rules": []}
    assert stripe.get(f"/v1/customers/{CUSTOMER}").json()["name"] == "Ada Lovelace"
    assert "Idempotent-Replayed" not in create_invoice(stripe, "k-reset").headers
