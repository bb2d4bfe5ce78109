"""The HubSpot sandbox over real HTTP: CRM v3 objects, unique properties, archive, faults, ledger."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

CONTACTS = "/crm/v3/objects/contacts"


def effects(client: httpx.Client, key: str | None = None) -> list[dict[str, Any]]:
    response = client.get("/_sandbox/ledger", params={"key": key} if key is not None else None)
    response.raise_for_status()
    return list(response.json()["effects"])


def add_fault(client: httpx.Client, **rule: Any) -> None:
    assert client.post("/_sandbox/faults", json=rule).status_code == 201


def create_contact(client: httpx.Client, **properties: str) -> httpx.Response:
    return client.post(CONTACTS, json={"properties": properties, "associations": []})


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    assert body["status"] == "error"
    assert body["category"] == category
    uuid.UUID(body["correlationId"])
    return body


def test_missing_token_is_refused_with_hubspots_401(hubspot_url: str) -> None:
    response = httpx.post(f"{hubspot_url}{CONTACTS}", json={"properties": {"email": "a@example.com"}})
    body = assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found")


def test_create_contact_returns_201_with_system_properties(hubspot: httpx.Client) -> None:
    response = create_contact(hubspot, email="Ada@Example.com", firstname="Ada", pivot_key="pv1_a")
    assert response.status_code == 201
    contact = response.json()
    assert re.fullmatch(r"\d+", contact["id"])
    props = contact["properties"]
    assert (props["email"], props["firstname"], props["pivot_key"]) == ("ada@example.com", "Ada", "pv1_a")
    assert props["hs_object_id"] == contact["id"]
    assert props["createdate"] == props["lastmodifieddate"] == contact["createdAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", contact["createdAt"])
    assert contact["archived"] is False
    for header in (
        "X-HubSpot-RateLimit-Max",
        "X-HubSpot-RateLimit-Remaining",
        "X-HubSpot-RateLimit-Interval-Milliseconds",
    ):
        assert response.headers[header].isdigit()
    assert [(e["op"], e["object"], e["id"], e["idempotency_key"]) for e in effects(hubspot)] == [
        ("create", "contact", contact["id"], "pv1_a")
    ]


def test_duplicate_email_or_pivot_key_is_a_409_naming_the_existing_id(hubspot: httpx.Client) -> None:
    existing = create_contact(hubspot, email="ada@example.com", pivot_key="pv1_dup").json()
    expected = f"Contact already exists. Existing ID: {existing['id']}"
    body = assert_error(create_contact(hubspot, email="ADA@example.com"), 409, "CONFLICT")
    assert body["message"] == expected
    body = assert_error(
        create_contact(hubspot, email="other@example.com", pivot_key="pv1_dup"), 409, "CONFLICT"
    )
    assert body["message"] == expected
    assert len(effects(hubspot)) == 1


def test_read_by_id_property_returns_requested_properties_only(hubspot: httpx.Client) -> None:
    contact = create_contact(
        hubspot, email="grace@example.com", firstname="Grace", lastname="Hopper", pivot_key="pv1_g"
    ).json()
    response = hubspot.get(
        f"{CONTACTS}/pv1_g", params={"idProperty": "pivot_key", "properties": "email,pivot_key"}
    )
    assert response.status_code == 200
    found = response.json()
    assert found["id"] == contact["id"]
    assert set(found["properties"]) == {
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "email",
        "pivot_key",
    }
    by_email = hubspot.get(f"{CONTACTS}/GRACE@example.com", params={"idProperty": "email"}).json()
    assert by_email["id"] == contact["id"]
    assert set(by_email["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert hubspot.get(f"{CONTACTS}/{contact['id']}").json()["properties"]["lastname"] == "Hopper"
    body = assert_error(
        hubspot.get(f"{CONTACTS}/pv1_none", params={"idProperty": "pivot_key"}), 404, "OBJECT_NOT_FOUND"
    )
    assert body["message"] == "resource not found"


def test_update_changes_properties_and_records_an_effect(hubspot: httpx.Client) -> None:
    contact = create_contact(hubspot, email="ada@example.com", firstname="Ada", pivot_key="pv1_u").json()
    response = hubspot.patch(f"{CONTACTS}/{contact['id']}", json={"properties": {"firstname": "Augusta"}})
    assert response.status_code == 200
    assert response.json()["properties"]["firstname"] == "Augusta"
    assert hubspot.get(f"{CONTACTS}/{contact['id']}").json()["properties"]["firstname"] == "Augusta"
    update = effects(hubspot, "pv1_u")[-1]
    assert (update["op"], update["detail"]) == ("update", {"properties": ["firstname"]})
    assert hubspot.patch(f"{CONTACTS}/999999", json={"properties": {"firstname": "x"}}).status_code == 404


def test_archive_hides_the_contact_unless_archived_is_requested(hubspot: httpx.Client) -> None:
    contact = create_contact(hubspot, email="ada@example.com", pivot_key="pv1_arch").json()
    assert hubspot.delete(f"{CONTACTS}/{contact['id']}").status_code == 204
    assert hubspot.get(f"{CONTACTS}/{contact['id']}").status_code == 404
    archived = hubspot.get(f"{CONTACTS}/{contact['id']}", params={"archived": "true"})
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    assert archived.json()["archivedAt"]
    by_key = hubspot.get(f"{CONTACTS}/pv1_arch", params={"idProperty": "pivot_key", "archived": "true"})
    assert by_key.json()["id"] == contact["id"]
    assert hubspot.get(f"{CONTACTS}/pv1_arch", params={"idProperty": "pivot_key"}).status_code == 404

    assert hubspot.delete(f"{CONTACTS}/{contact['id']}").status_code == 204  # again: still 204
    assert hubspot.delete(f"{CONTACTS}/424242").status_code == 204  # unknown: still 204
    assert [e["op"] for e in effects(hubspot, "pv1_arch")] == ["create", "archive"]
    # Archived records no longer hold their unique values.
    assert create_contact(hubspot, email="ada@example.com", pivot_key="pv1_arch").status_code == 201


def test_search_finds_live_records_by_property_and_pages(hubspot: httpx.Client) -> None:
    ids = [create_contact(hubspot, email=f"s{i}@example.com", pivot_key=f"pv1_s{i}").json()["id"] for i in range(3)]
    hubspot.delete(f"{CONTACTS}/{ids[2]}").raise_for_status()
    by_key = {"filterGroups": [{"filters": [{"propertyName": "pivot_key", "operator": "EQ", "value": "PV1_S0"}]}],
              "properties": ["pivot_key"]}
    found = hubspot.post(f"{CONTACTS}/search", json=by_key).json()
    assert (found["total"], [r["id"] for r in found["results"]]) == (1, [ids[0]])
    assert found["results"][0]["properties"]["pivot_key"] == "pv1_s0"  # HubSpot's search ignores case
    among = {"filterGroups": [{"filters": [{"propertyName": "pivot_key", "operator": "IN",
                                            "values": ["pv1_s0", "pv1_s1", "pv1_s2"]}]}], "limit": 1}
    first = hubspot.post(f"{CONTACTS}/search", json=among).json()
    assert (first["total"], [r["id"] for r in first["results"]]) == (2, [ids[0]])  # the archived one is not seen
    rest = hubspot.post(f"{CONTACTS}/search", json={**among, "after": first["paging"]["next"]["after"]}).json()
    assert [r["id"] for r in rest["results"]] == [ids[1]] and "paging" not in rest
    unknown = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]}
    assert_error(hubspot.post(f"{CONTACTS}/search", json=unknown), 400, "VALIDATION_ERROR")
    assert effects(hubspot)[-1]["op"] == "archive"  # a search writes nothing


def test_batch_archive_and_upsert(hubspot: httpx.Client) -> None:
    ids = [create_contact(hubspot, email=f"c{i}@example.com").json()["id"] for i in range(3)]
    response = hubspot.post(f"{CONTACTS}/batch/archive", json={"inputs": [{"id": i} for i in ids[:2]]})
    assert response.status_code == 204
    assert [hubspot.get(f"{CONTACTS}/{i}").status_code for i in ids] == [404, 404, 200]

    upsert = {
        "inputs": [{"id": "pv1_up", "idProperty": "pivot_key", "properties": {"email": "up@example.com"}}]
    }
    first = hubspot.post(f"{CONTACTS}/batch/upsert", json=upsert).json()
    assert first["status"] == "COMPLETE"
    assert first["results"][0]["new"] is True
    upsert["inputs"][0]["properties"] = {"firstname": "Up"}
    second = hubspot.post(f"{CONTACTS}/batch/upsert", json=upsert).json()
    assert second["results"][0]["new"] is False
    assert second["results"][0]["id"] == first["results"][0]["id"]
    assert [e["op"] for e in effects(hubspot, "pv1_up")] == ["create", "update"]


def test_deals_use_the_same_code_path(hubspot: httpx.Client) -> None:
    response = hubspot.post(
        "/crm/v3/objects/deals", json={"properties": {"dealname": "Pro", "amount": 120, "pivot_key": "pv1_d"}}
    )
    assert response.status_code == 201
    deal = response.json()
    assert deal["properties"]["amount"] == "120"
    assert "hs_lastmodifieddate" in deal["properties"]
    conflict = hubspot.post("/crm/v3/objects/deals", json={"properties": {"pivot_key": "pv1_d"}})
    assert (
        assert_error(conflict, 409, "CONFLICT")["message"]
        == f"Deal already exists. Existing ID: {deal['id']}"
    )
    assert effects(hubspot)[0]["object"] == "deal"


def test_invalid_bodies_are_validation_errors(hubspot: httpx.Client) -> None:
    assert_error(
        hubspot.post(CONTACTS, content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(hubspot.post(CONTACTS, json={"props": {}}), 400, "VALIDATION_ERROR")
    assert_error(create_contact(hubspot, email="not-an-email"), 400, "VALIDATION_ERROR")
    assert effects(hubspot) == []


def test_rate_limit_fault_answers_like_hubspot(hubspot: httpx.Client) -> None:
    add_fault(hubspot, method="POST", path=CONTACTS, action="rate_limit", retry_after=1, times=1)
    response = create_contact(hubspot, email="rl@example.com")
    body = assert_error(response, 429, "RATE_LIMITS")
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert response.headers["X-HubSpot-RateLimit-Max"].isdigit()
    assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert response.headers["Retry-After"] == "1"
    assert effects(hubspot) == []
    assert create_contact(hubspot, email="rl@example.com").status_code == 201


def test_error_fault_uses_hubspots_error_shape_and_executes_nothing(hubspot: httpx.Client) -> None:
    add_fault(hubspot, method="POST", path="/crm/v3/objects/*", action="error", status=502, times=1)
    assert_error(create_contact(hubspot, email="e@example.com"), 502, "INTERNAL_ERROR")
    assert effects(hubspot) == []
    assert hubspot.get(f"{CONTACTS}/e@example.com", params={"idProperty": "email"}).status_code == 404


def test_commit_then_timeout_lands_the_contact(hubspot: httpx.Client, hubspot_url: str) -> None:
    add_fault(hubspot, method="POST", path=CONTACTS, action="commit_then_timeout", hang_s=2, times=1)
    with (
        httpx.Client(
            base_url=hubspot_url, headers=hubspot.headers, timeout=httpx.Timeout(5, read=1)
        ) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        create_contact(impatient, email="lost@example.com", pivot_key="pv1_lost")
    assert [e["op"] for e in effects(hubspot, "pv1_lost")] == ["create"]
    found = hubspot.get(f"{CONTACTS}/pv1_lost", params={"idProperty": "pivot_key"})
    assert found.status_code == 200
    retry = create_contact(hubspot, email="lost@example.com", pivot_key="pv1_lost")
    assert assert_error(retry, 409, "CONFLICT")["message"].endswith(found.json()["id"])


def test_rate_limit_remaining_counts_down(hubspot: httpx.Client) -> None:
    first = int(hubspot.get(f"{CONTACTS}/1").headers["X-HubSpot-RateLimit-Remaining"])
    second = int(hubspot.get(f"{CONTACTS}/1").headers["X-HubSpot-RateLimit-Remaining"])
    assert second == first - 1
