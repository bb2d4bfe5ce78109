"""The Stripe and HubSpot sandboxes' lookup indexes never go stale.

The sandboxes find an invoice's items, a customer's pending items and a record by a unique property
through indexes instead of scanning every stored object (so a benchmark with thousands of sagas
does not slow down). Here a seeded random walk over the endpoints that add, attach, delete,
update, archive and reset checks after every request that each index holds exactly what a full
scan of the stored objects finds, in the same order.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from starlette.testclient import TestClient

from pivot.providers.hubspot.sandbox import HubSpotSandbox
from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID
from pivot.providers.stripe.sandbox.app import StripeSandbox

STEPS = 400


def _check_stripe(sandbox: StripeSandbox) -> None:
    state = sandbox.store.state
    items = list(state.items.values())
    for invoice_id in {*state.invoices, *state.item_ids_by_invoice}:
        assert state.items_of(invoice_id) == [item for item in items if item["invoice"] == invoice_id]
    assert set(state.item_ids_by_invoice) <= set(state.invoices)
    keys = {(item["customer"], item["currency"]) for item in items} | set(state.pending_item_ids)
    for customer_id, currency in keys:
        assert state.pending_items(customer_id, currency) == [
            item for item in items
            if item["customer"] == customer_id and item["invoice"] is None and item["currency"] == currency
        ]
    assert all(slot for slot in [*state.item_ids_by_invoice.values(), *state.pending_item_ids.values()])


@pytest.mark.parametrize("seed", [1, 2])
def test_stripe_item_indexes_match_a_full_scan(seed: int) -> None:
    rng = random.Random(seed)
    sandbox = StripeSandbox(credentials=["sk_test_pivotSandboxKey123"])
    client = TestClient(sandbox.app(), headers={"Authorization": "Bearer sk_test_pivotSandboxKey123"})
    customers, invoices, items = [SEED_CUSTOMER_ID], ["in_none"], ["ii_none"]
    for step in range(STEPS):
        op = rng.random()
        if op < 0.05:
            body = client.post("/v1/customers", data={"email": f"c{step}@example.com"}).json()
            customers.append(body["id"])
        elif op < 0.40:
            data = {"customer": rng.choice(customers), "amount": str(rng.randint(0, 500))}
            if currency := rng.choice([None, "usd", "eur"]):
                data["currency"] = currency
            if rng.random() < 0.3:
                data["invoice"] = rng.choice(invoices)
            body = client.post("/v1/invoiceitems", data=data).json()
            items.append(body.get("id", "ii_none"))
        elif op < 0.60:
            data = {"customer": rng.choice(customers)}
            if behavior := rng.choice([None, "exclude", "include", "include_and_require"]):
                data["pending_invoice_items_behavior"] = behavior
            if currency := rng.choice([None, "usd", "eur"]):
                data["currency"] = currency
            body = client.post("/v1/invoices", data=data).json()
            if body.get("object") == "invoice":
                invoices.append(body["id"])
                assert [line["invoice_item"] for line in body["lines"]["data"]] == [
                    item["id"] for item in sandbox.store.state.items.values() if item["invoice"] == body["id"]
                ]
        elif op < 0.70:
            client.delete(f"/v1/invoiceitems/{rng.choice(items)}")
        elif op < 0.78:
            client.delete(f"/v1/invoices/{rng.choice(invoices)}")
        elif op < 0.86:
            client.post(f"/v1/invoices/{rng.choice(invoices)}/{rng.choice(['finalize', 'pay', 'void'])}")
        elif op < 0.93:
            client.get(f"/v1/invoices/{rng.choice(invoices)}/lines", params={"limit": "3"})
        elif op < 0.97:
            client.delete(f"/v1/customers/{rng.choice(customers)}")
        else:
            assert client.post("/_sandbox/reset").status_code == 204
            customers = [SEED_CUSTOMER_ID]
        _check_stripe(sandbox)


def _check_hubspot(sandbox: HubSpotSandbox) -> None:
    state = sandbox.state
    for type_name, records in state.records.items():
        expected: dict[tuple[str, str, bool], list[str]] = {}
        for record in records.values():
            for name in state.indexed[type_name]:
                value = record.properties.get(name)
                if value is not None:
                    expected.setdefault((name, value, record.archived), []).append(record.id)
        assert {key: sorted(ids, key=int) for key, ids in state.by_value[type_name].items()} == expected
        for (name, value, archived), ids in expected.items():
            found = state.matching(type_name, name, value, archived=archived)
            assert [record.id for record in found] == ids


@pytest.mark.parametrize("seed", [1, 2])
def test_hubspot_value_index_matches_a_full_scan(seed: int) -> None:
    rng = random.Random(seed)
    sandbox = HubSpotSandbox(credentials=["pat-na1-index-test"])
    client = TestClient(sandbox.app(), headers={"Authorization": "Bearer pat-na1-index-test"})
    emails, keys, nicks = [f"p{i}@example.com" for i in range(6)], [f"pv1_{i}" for i in range(6)], ["n1", "n2"]
    ids: list[str] = ["101"]
    base = "/crm/v3/objects/contacts"

    def properties() -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        for name, pool in (("email", emails), ("pivot_key", [*keys, ""]), ("nickname", [*nicks, ""])):
            if rng.random() < 0.6:
                chosen[name] = rng.choice(pool)
        return chosen

    def ident() -> tuple[str, dict[str, str]]:
        id_property = rng.choice([None, "email", "pivot_key", "nickname"])
        if id_property is None:
            return rng.choice(ids), {}
        return rng.choice([*emails, *keys, *nicks]), {"idProperty": id_property}

    for _ in range(STEPS):
        op = rng.random()
        if op < 0.30:
            body = client.post(base, json={"properties": properties()}).json()
            if "id" in body:
                ids.append(body["id"])
        elif op < 0.45:
            target, params = ident()
            client.patch(f"{base}/{target}", params=params, json={"properties": properties()})
        elif op < 0.60:
            client.delete(f"{base}/{rng.choice(ids)}")
        elif op < 0.70:
            target, params = ident()
            client.get(f"{base}/{target}", params={**params, "archived": rng.choice(["true", "false"])})
        elif op < 0.80:
            inputs = [{"idProperty": rng.choice(["email", "pivot_key"]), "id": rng.choice([*emails, *keys]),
                       "properties": properties()} for _ in range(rng.randint(1, 3))]
            body = client.post(f"{base}/batch/upsert", json={"inputs": inputs}).json()
            ids += [result["id"] for result in body.get("results", []) if result.get("new")]
        elif op < 0.87:
            client.post(f"{base}/batch/archive", json={"inputs": [{"id": rng.choice(ids)}, {"id": rng.choice(ids)}]})
        elif op < 0.92:  # nickname becomes unique after records already carry (duplicate) values
            client.post("/crm/v3/properties/contacts", json={
                "name": "nickname", "label": "Nick", "type": "string", "fieldType": "text",
                "groupName": "contactinformation", "hasUniqueValue": True})
        elif op < 0.96:
            client.delete("/_sandbox/properties/contacts/nickname")
        else:
            assert client.post("/_sandbox/reset").status_code == 204
            ids = ["101"]
        _check_hubspot(sandbox)
