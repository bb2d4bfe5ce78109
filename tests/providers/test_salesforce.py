"""The Salesforce provider against its sandbox, a real HTTP server in a subprocess.

First the sandbox's wire format (what the client is built against), then each action: forward
and read-back, replay after a lost answer (commit, then the answer never comes), compensation
and its idempotency, conflicts, allOrNone. Exactly-once is proven with the sandbox's ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind
from pivot.providers.salesforce.actions import (
    CreateRecord,
    CreateRecordParams,
    CreateRecordsAtomic,
    CreateRecordsAtomicParams,
    UpdateRecord,
    UpdateRecordParams,
    UpsertRecord,
    UpsertRecordParams,
    salesforce_actions,
)
from pivot.providers.salesforce.client import SalesforceClient
from tests.providers.salesforce_fixtures import (
    API,
    TOKEN,
    TOKEN_ENV,
    Instruments,
    OneSandbox,
    drive,
    running_sandbox,
)

LOST_ANSWER_TIMEOUT_S = 1.0
"""The client gives up after 1 s; a commit_then_timeout fault holds the answer for longer."""
UPSERT_PATH = f"{API}/sobjects/*/Pivot_Key__c/*"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[OneSandbox]:
    with running_sandbox() as handle:
        yield handle
        code = handle.stop()
        assert code == 0, f"the sandbox exited with {code}:\n{handle.stderr()}"


@pytest.fixture(scope="module")
def rest(sandbox: OneSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as client:
        yield client


@pytest.fixture
def sf(rest: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> Instruments:
    """A clean sandbox (state, faults, ledger) and the credential the client reads per request."""
    rest.post("/_sandbox/reset").raise_for_status()
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return Instruments(rest)


@pytest.fixture
def url(sandbox: OneSandbox) -> str:
    return sandbox.url


def keys(step: str, action: str) -> StepKeys:
    return StepKeys.derive("run-salesforce-test", step, action)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) >= 1, body
    return dict(body[0])


def lose_answer(sf: Instruments, method: str | None, path: str) -> str:
    """The next matching request is applied, then its answer never arrives."""
    return sf.fault(method=method, path=path, action="commit_then_timeout", times=1, hang_s=10)


# ===================================================================== the sandbox's wire format


def test_a_request_without_a_bearer_token_gets_invalid_session_id(sf: Instruments, url: str) -> None:
    response = httpx.post(f"{url}{API}/sobjects/Account", json={"Name": "Acme"})
    assert error_of(response, 401) == {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    assert re.fullmatch(r"api-usage=\d+/5000", response.headers["Sforce-Limit-Info"])
    assert sf.effects() == []


def test_create_read_delete_and_the_recycle_bin(sf: Instruments, rest: httpx.Client) -> None:
    created = rest.post(f"{API}/sobjects/Account", json={"Name": "Acme", "Pivot_Key__c": "pv1_a"})
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    record_id = body["id"]
    assert re.fullmatch(r"001[A-Za-z0-9]{15}", record_id)
    assert created.headers["Location"] == f"{API}/sobjects/Account/{record_id}"

    read = rest.get(f"{API}/sobjects/Account/{record_id}", params={"fields": "Name,Phone"}).json()
    assert read == {"attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{record_id}"},
                    "Id": record_id, "Name": "Acme", "Phone": None}
    full = rest.get(f"{API}/sobjects/Account/{record_id[:15]}").json()  # 15-character ids work too
    assert full["Id"] == record_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", full["CreatedDate"])
    assert full["LastModifiedDate"] == full["SystemModstamp"]

    deleted = rest.delete(f"{API}/sobjects/Account/{record_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert error_of(rest.get(f"{API}/sobjects/Account/{record_id}"), 404)["errorCode"] == "ENTITY_IS_DELETED"
    assert error_of(rest.delete(f"{API}/sobjects/Account/{record_id}"), 404)["errorCode"] == "ENTITY_IS_DELETED"
    assert error_of(rest.get(f"{API}/sobjects/Account/Pivot_Key__c/pv1_a"), 404)["errorCode"] == "NOT_FOUND"
    in_bin = rest.get(f"{API}/queryAll", params={
        "q": "SELECT Id, IsDeleted FROM Account WHERE Pivot_Key__c = 'pv1_a'"}).json()["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in in_bin] == [(record_id, True)]
    assert [(e["op"], e["object"], e["id"], e["idempotency_key"]) for e in sf.effects()] == [
        ("create", "Account", record_id, "pv1_a"), ("delete", "Account", record_id, "pv1_a")]


def test_validation_errors_are_salesforce_error_arrays(sf: Instruments, rest: httpx.Client) -> None:
    missing = error_of(rest.post(f"{API}/sobjects/Opportunity", json={"Name": "Deal"}), 400)
    assert missing == {"message": "Required fields are missing: [StageName, CloseDate]",
                       "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["StageName", "CloseDate"]}
    invalid = error_of(rest.post(f"{API}/sobjects/Account", json={"Name": "A", "InvalidColour__c": "red"}), 400)
    assert invalid["errorCode"] == "INVALID_FIELD"
    assert "InvalidColour__c" in invalid["message"]
    assert error_of(rest.post(f"{API}/sobjects/Widget", json={"Name": "A"}), 404)["errorCode"] == "NOT_FOUND"
    read_only = error_of(rest.post(f"{API}/sobjects/Contact", json={"LastName": "L", "CreatedDate": "x"}), 400)
    assert read_only["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.effects() == []


def test_upsert_by_external_id_creates_updates_and_reports_several_matches(
    sf: Instruments, rest: httpx.Client
) -> None:
    path = f"{API}/sobjects/Account/Pivot_Key__c/pv1_up%3A0"
    created = rest.patch(path, json={"Name": "First"})
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = rest.patch(path, json={"Name": "Second"})
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    assert rest.get(path, params={"fields": "Name,Pivot_Key__c"}).json()["Pivot_Key__c"] == "pv1_up:0"
    assert error_of(rest.get(f"{API}/sobjects/Account/Pivot_Key__c/absent"), 404)["errorCode"] == "NOT_FOUND"

    for name in ("One", "Two"):
        sf.create("Account", {"Name": name, "Region_Code__c": "EMEA"})
    several = rest.patch(f"{API}/sobjects/Account/Region_Code__c/EMEA", json={"Name": "Three"})
    assert several.status_code == 300
    assert len(several.json()) == 2
    duplicate = error_of(rest.post(f"{API}/sobjects/Account", json={"Name": "X", "Pivot_Key__c": "pv1_up:0"}), 400)
    assert duplicate["errorCode"] == "DUPLICATE_VALUE"
    assert [e["op"] for e in sf.effects()] == ["create", "update", "create", "create"]


def test_collections_all_or_none_true_rolls_back_false_keeps_the_valid_records(
    sf: Instruments, rest: httpx.Client
) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": "Good"}, {"attributes": {"type": "Contact"}}]
    atomic = rest.post(f"{API}/composite/sobjects", json={"allOrNone": True, "records": records})
    assert atomic.status_code == 200
    first, second = atomic.json()
    assert first["success"] is False
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.effects() == []

    partial = rest.post(f"{API}/composite/sobjects", json={"allOrNone": False, "records": records}).json()
    assert [r["success"] for r in partial] == [True, False]
    assert [(e["op"], e["id"], e["detail"]["allOrNone"]) for e in sf.effects()] == [
        ("create", partial[0]["id"], False)]


def test_composite_references_rollback_and_halted_dependents(sf: Instruments, rest: httpx.Client) -> None:
    account = {"method": "POST", "url": f"{API}/sobjects/Account", "referenceId": "refAccount", "body": {"Name": "A"}}
    contact = {"method": "POST", "url": f"{API}/sobjects/Contact", "referenceId": "refContact",
               "body": {"LastName": "L", "AccountId": "@{refAccount.id}"}}
    bad = {"method": "POST", "url": f"{API}/sobjects/Opportunity", "referenceId": "refDeal", "body": {"Name": "D"}}

    rolled_back = rest.post(f"{API}/composite", json={"allOrNone": True, "compositeRequest": [account, contact, bad]})
    assert rolled_back.status_code == 200
    answers = rolled_back.json()["compositeResponse"]
    assert [(a["referenceId"], a["httpStatusCode"]) for a in answers] == [
        ("refAccount", 400), ("refContact", 400), ("refDeal", 400)]
    assert [a["body"][0]["errorCode"] for a in answers] == [
        "PROCESSING_HALTED", "PROCESSING_HALTED", "REQUIRED_FIELD_MISSING"]
    assert sf.effects() == []

    linked = rest.post(f"{API}/composite", json={"allOrNone": True, "compositeRequest": [account, contact]}).json()
    account_id = linked["compositeResponse"][0]["body"]["id"]
    contact_id = linked["compositeResponse"][1]["body"]["id"]
    assert sf.record("Contact", contact_id, "AccountId").json()["AccountId"] == account_id

    bad_account = {**account, "body": {}}
    halted = rest.post(f"{API}/composite", json={"allOrNone": False, "compositeRequest": [bad_account, contact]})
    dependent = halted.json()["compositeResponse"][1]
    assert dependent["httpStatusCode"] == 400
    assert dependent["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert dependent["body"][0]["message"].startswith("Invalid reference specified")
    assert len(sf.effects()) == 2


def test_the_rate_limit_fault_is_salesforces_403_without_retry_after(sf: Instruments, rest: httpx.Client) -> None:
    sf.fault(action="rate_limit", retry_after=5, times=1)
    response = rest.get(f"{API}/sobjects/Account/Pivot_Key__c/anything")
    assert error_of(response, 403) == {"message": "TotalRequests Limit exceeded.",
                                       "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    assert "Retry-After" not in response.headers
    assert "Sforce-Limit-Info" in response.headers


# ===================================================================== salesforce.create_record


def test_create_record_writes_once_carrying_the_key_and_reads_back(sf: Instruments, url: str) -> None:
    step = keys("account", "salesforce.create_record")
    params = CreateRecordParams(sobject="Account", fields={"Name": "Acme", "NumberOfEmployees": 40})

    async def scenario(client: SalesforceClient) -> tuple[dict[str, Any], dict[str, Any]]:
        action = CreateRecord(client)
        return await action.forward(params, step), await action.forward(params, step)

    first, again = drive(url, scenario)
    assert first == again
    assert first["ref"] == f"salesforce:Account/{first['id']}"
    assert first["fields"] == {"Name": "Acme", "NumberOfEmployees": 40}
    stored = sf.record("Account", first["id"], "Name", "Pivot_Key__c").json()
    assert (stored["Name"], stored["Pivot_Key__c"]) == ("Acme", step.forward)
    assert [(e["op"], e["idempotency_key"]) for e in sf.effects()] == [("create", step.forward)]


def test_create_record_replay_after_a_lost_answer_finds_the_record(sf: Instruments, url: str) -> None:
    step = keys("account", "salesforce.create_record")
    params = CreateRecordParams(sobject="Account", fields={"Name": "Acme"})
    rule = lose_answer(sf, "PATCH", UPSERT_PATH)

    async def scenario(client: SalesforceClient) -> dict[str, Any]:
        action = CreateRecord(client)
        with pytest.raises(ProviderUnavailable) as lost:
            await action.forward(params, step)
        assert lost.value.ambiguous
        return await action.forward(params, step)

    result = drive(url, scenario, timeout_s=LOST_ANSWER_TIMEOUT_S)
    assert sf.fault_hits(rule) == 1
    assert [(e["op"], e["id"]) for e in sf.effects(key=step.forward)] == [("create", result["id"])]
    assert len(sf.effects()) == 1


def test_create_record_compensation_deletes_once_and_is_idempotent(sf: Instruments, url: str) -> None:
    step = keys("account", "salesforce.create_record")
    params = CreateRecordParams(sobject="Contact", fields={"LastName": "Lovelace", "FirstName": "Ada"})

    async def scenario(client: SalesforceClient) -> list[str]:
        action = CreateRecord(client)
        result = await action.forward(params, step)
        first = await action.compensate(params, step, result)
        again = await action.compensate(params, step, result)
        lost = await action.compensate(params, step, None)  # a re-run that never saw the forward's result
        return [first.state, again.state, lost.state, first.detail, again.detail]

    first, again, lost, first_detail, again_detail = drive(url, scenario)
    assert (first, again, lost) == ("compensated", "compensated", "compensated")
    assert "deleted" in first_detail and "already undone" in again_detail  # found in the Recycle Bin
    assert [e["op"] for e in sf.effects(key=step.forward)] == ["create", "delete"]


def test_create_record_rejection_is_terminal_and_leaves_nothing_to_undo(sf: Instruments, url: str) -> None:
    step = keys("contact", "salesforce.create_record")
    params = CreateRecordParams(sobject="Contact", fields={"FirstName": "Ada"})

    async def scenario(client: SalesforceClient) -> str:
        action = CreateRecord(client)
        with pytest.raises(ProviderRejected) as rejected:
            await action.forward(params, step)
        assert rejected.value.info.code == "required_field_missing"
        assert rejected.value.info.detail == {"errors": [{
            "errorCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"]}]}
        return (await action.compensate(params, step, None)).state

    assert drive(url, scenario) == "nothing_to_undo"
    assert sf.effects() == []


# ===================================================================== salesforce.update_record


def test_update_record_keeps_the_before_image_and_compensation_restores_it_once(sf: Instruments, url: str) -> None:
    record_id = sf.create("Opportunity", {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
                                          "Amount": 5000})
    step = keys("deal", "salesforce.update_record")
    params = UpdateRecordParams(sobject="Opportunity", id=record_id,
                                fields={"StageName": "Closed Won", "Amount": 5000, "Description": "won"})

    async def scenario(client: SalesforceClient) -> tuple[dict[str, Any], list[str]]:
        action = UpdateRecord(client)
        result = await action.forward(params, step)
        first = await action.compensate(params, step, result)
        again = await action.compensate(params, step, result)
        return result, [first.state, again.state]

    result, states = drive(url, scenario)
    assert result["before"] == {"StageName": "Prospecting", "Description": None}
    assert result["unchanged"] == ["Amount"]
    assert result["before_unknown"] == []
    assert result["after"] == {"StageName": "Closed Won", "Amount": 5000, "Description": "won"}
    assert states == ["compensated", "compensated"]
    restored = sf.record("Opportunity", record_id, "StageName", "Amount", "Description").json()
    assert (restored["StageName"], restored["Amount"], restored["Description"]) == ("Prospecting", 5000, None)
    updates = sf.effects(op="update")
    assert [sorted(e["detail"]["fields"]) for e in updates] == [["Description", "StageName"],
                                                               ["Description", "StageName"]]


def test_update_compensation_conflict_when_someone_else_changed_the_field(sf: Instruments, url: str) -> None:
    record_id = sf.create("Account", {"Name": "Acme", "Rating": "Cold"})
    step = keys("account", "salesforce.update_record")
    params = UpdateRecordParams(sobject="Account", id=record_id, fields={"Rating": "Hot", "Name": "Acme Corp"})

    async def forward(client: SalesforceClient) -> dict[str, Any]:
        return await UpdateRecord(client).forward(params, step)

    result = drive(url, forward)
    sf.patch("Account", record_id, {"Rating": "Warm"})  # someone else, between forward and compensation
    before_compensation = len(sf.effects())

    async def compensate(client: SalesforceClient) -> None:
        await UpdateRecord(client).compensate(params, step, result)

    with pytest.raises(CompensationConflict) as conflict:
        drive(url, compensate)
    assert conflict.value.info.code == "compensation_conflict"
    assert conflict.value.info.detail == {"expected": {"Rating": "Hot"}, "current": {"Rating": "Warm"}}
    assert len(sf.effects()) == before_compensation  # Name was not restored either: all or nothing
    current = sf.record("Account", record_id, "Name", "Rating").json()
    assert (current["Name"], current["Rating"]) == ("Acme Corp", "Warm")


def test_update_replay_after_a_lost_answer_writes_once_and_refuses_to_guess(sf: Instruments, url: str) -> None:
    record_id = sf.create("Account", {"Name": "Acme", "Rating": "Cold"})
    step = keys("account", "salesforce.update_record")
    params = UpdateRecordParams(sobject="Account", id=record_id, fields={"Rating": "Hot"})
    lose_answer(sf, "PATCH", f"{API}/sobjects/Account/{record_id}")

    async def scenario(client: SalesforceClient) -> dict[str, Any]:
        with pytest.raises(ProviderUnavailable):
            await UpdateRecord(client).forward(params, step)
        return await UpdateRecord(client).forward(params, step)

    result = drive(url, scenario, timeout_s=LOST_ANSWER_TIMEOUT_S)
    assert (result["before"], result["before_unknown"]) == ({}, ["Rating"])
    assert [e["op"] for e in sf.effects()] == ["create", "update"]

    async def compensate(client: SalesforceClient) -> None:
        await UpdateRecord(client).compensate(params, step, result)

    async def compensate_without_result(client: SalesforceClient) -> None:
        await UpdateRecord(client).compensate(params, step, None)

    for run in (compensate, compensate_without_result):
        with pytest.raises(CompensationConflict) as conflict:
            drive(url, run)
        assert conflict.value.info.detail == {"expected": {"Rating": "Hot"}, "current": {"Rating": "Hot"}}
    assert [e["op"] for e in sf.effects()] == ["create", "update"]


def test_update_that_never_landed_has_nothing_to_undo(sf: Instruments, url: str) -> None:
    record_id = sf.create("Account", {"Name": "Acme"})
    step = keys("account", "salesforce.update_record")
    params = UpdateRecordParams(sobject="Account", id=record_id, fields={"InvalidTier__c": "gold"})

    async def scenario(client: SalesforceClient) -> str:
        action = UpdateRecord(client)
        with pytest.raises(ProviderRejected) as rejected:
            await action.forward(params, step)
        assert rejected.value.info.code == "invalid_field"
        return (await action.compensate(params, step, None)).state

    assert drive(url, scenario) == "nothing_to_undo"
    assert [e["op"] for e in sf.effects()] == ["create"]


# ===================================================================== salesforce.upsert_record


def test_upsert_record_creates_updates_and_replays_without_a_second_effect(sf: Instruments, url: str) -> None:
    step = keys("customer", "salesforce.upsert_record")
    create = UpsertRecordParams(sobject="Account", external_id_field="Customer_Number__c", external_id="C-1001",
                                fields={"Name": "Acme"})
    rename = create.model_copy(update={"fields": {"Name": "Acme Corp"}})
    lose_answer(sf, "PATCH", f"{API}/sobjects/Account/Customer_Number__c/C-1001")

    async def scenario(client: SalesforceClient) -> list[dict[str, Any]]:
        action = UpsertRecord(client)
        with pytest.raises(ProviderUnavailable):
            await action.forward(create, step)
        return [await action.forward(create, step), await action.forward(rename, step)]

    created, renamed = drive(url, scenario, timeout_s=LOST_ANSWER_TIMEOUT_S)
    assert created["id"] == renamed["id"]
    assert created["fields"] == {"Name": "Acme"} and renamed["fields"] == {"Name": "Acme Corp"}
    assert (renamed["external_id_field"], renamed["external_id"]) == ("Customer_Number__c", "C-1001")
    assert [(e["op"], e["id"]) for e in sf.effects()] == [("create", created["id"]), ("update", created["id"])]


# ===================================================================== salesforce.create_records_atomic


def group_params(*records: tuple[str, dict[str, Any]]) -> CreateRecordsAtomicParams:
    return CreateRecordsAtomicParams.model_validate(
        {"records": [{"sobject": sobject, "fields": fields} for sobject, fields in records]})


def test_create_records_atomic_sends_all_or_none_true_and_reads_every_record_back(
    sf: Instruments, url: str
) -> None:
    step = keys("crm", "salesforce.create_records_atomic")
    params = group_params(("Account", {"Name": "Acme"}), ("Contact", {"LastName": "Lovelace"}),
                          ("Contact", {"LastName": "Hopper", "Email": "grace@example.com"}))

    async def scenario(client: SalesforceClient) -> dict[str, Any]:
        return await CreateRecordsAtomic(client).forward(params, step)

    result = drive(url, scenario)
    assert result["count"] == 3
    assert [r["sobject"] for r in result["records"]] == ["Account", "Contact", "Contact"]
    assert result["records"][2]["fields"] == {"LastName": "Hopper", "Email": "grace@example.com"}
    assert result["ref"] == f"salesforce:records/{result['ids'][0]}+2"
    effects = sf.effects()
    assert [(e["op"], e["id"], e["idempotency_key"]) for e in effects] == [
        ("create", record_id, step.sub(str(index))) for index, record_id in enumerate(result["ids"])]
    assert {(e["detail"]["via"], e["detail"]["allOrNone"]) for e in effects} == {("composite/sobjects", True)}


def test_create_records_atomic_of_one_type_uses_the_atomic_upsert_collection(sf: Instruments, url: str) -> None:
    step = keys("contacts", "salesforce.create_records_atomic")
    params = group_params(("Contact", {"LastName": "Lovelace"}), ("Contact", {"LastName": "Hopper"}))

    async def scenario(client: SalesforceClient) -> dict[str, Any]:
        return await CreateRecordsAtomic(client).forward(params, step)

    result = drive(url, scenario)
    assert result["ref"] == f"salesforce:Contact/{result['ids'][0]}+1"
    effects = sf.effects()
    assert [e["op"] for e in effects] == ["create", "create"]
    assert {(e["detail"]["via"], e["detail"]["allOrNone"]) for e in effects} == {("composite/sobjects", True)}


@pytest.mark.parametrize("types", [("Contact", "Contact"), ("Account", "Contact")], ids=["one-type", "mixed"])
def test_create_records_atomic_replay_after_a_lost_answer_creates_the_group_once(
    sf: Instruments, url: str, types: tuple[str, str]
) -> None:
    step = keys("crm", "salesforce.create_records_atomic")
    params = group_params(*[(sobject, {"LastName": "L"} if sobject == "Contact" else {"Name": "N"})
                            for sobject in types])
    lose_answer(sf, None, f"{API}/composite/sobjects*")

    async def scenario(client: SalesforceClient) -> dict[str, Any]:
        action = CreateRecordsAtomic(client)
        with pytest.raises(ProviderUnavailable) as lost:
            await action.forward(params, step)
        assert lost.value.ambiguous
        return await action.forward(params, step)

    result = drive(url, scenario, timeout_s=LOST_ANSWER_TIMEOUT_S)
    assert [(e["op"], e["id"]) for e in sf.effects()] == [("create", record_id) for record_id in result["ids"]]


def test_create_records_atomic_failure_creates_nothing_and_names_every_record(sf: Instruments, url: str) -> None:
    step = keys("crm", "salesforce.create_records_atomic")
    params = group_params(("Account", {"Name": "Acme"}), ("Contact", {"FirstName": "no last name"}),
                          ("Opportunity", {"Name": "Deal"}))

    async def scenario(client: SalesforceClient) -> str:
        action = CreateRecordsAtomic(client)
        with pytest.raises(ProviderRejected) as rejected:
            await action.forward(params, step)
        info = rejected.value.info
        assert info.code == "required_field_missing"
        assert info.detail is not None
        assert [(r["index"], r["sobject"], [e["errorCode"] for e in r["errors"]]) for r in info.detail["records"]] == [
            (0, "Account", ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]),
            (1, "Contact", ["REQUIRED_FIELD_MISSING"]),
            (2, "Opportunity", ["REQUIRED_FIELD_MISSING"]),
        ]
        return (await action.compensate(params, step, None)).state

    assert drive(url, scenario) == "nothing_to_undo"
    assert sf.effects() == []


def test_create_records_atomic_compensation_deletes_the_group_once(sf: Instruments, url: str) -> None:
    step = keys("crm", "salesforce.create_records_atomic")
    params = group_params(("Account", {"Name": "Acme"}), ("Contact", {"LastName": "A"}),
                          ("Contact", {"LastName": "B"}))

    async def forward(client: SalesforceClient) -> dict[str, Any]:
        return await CreateRecordsAtomic(client).forward(params, step)

    result = drive(url, forward)
    someone = sf.client.delete(f"{API}/sobjects/Contact/{result['ids'][1]}")  # already gone before the unwind
    assert someone.status_code == 204

    async def compensate(client: SalesforceClient) -> list[str]:
        action = CreateRecordsAtomic(client)
        return [(await action.compensate(params, step, result)).detail,
                (await action.compensate(params, step, result)).state]

    first, again = drive(url, compensate)
    assert first == "deleted 2 Salesforce records of this step (1 were already gone)"
    assert again == "compensated"
    deletes = sf.effects(op="delete")
    assert sorted(e["id"] for e in deletes) == sorted(result["ids"])
    assert len(deletes) == 3


# ===================================================================== failures and the catalog


def test_request_limit_exceeded_and_lock_contention_are_transient(sf: Instruments, url: str) -> None:
    step = keys("account", "salesforce.create_record")
    params = CreateRecordParams(sobject="Account", fields={"Name": "Acme"})
    sf.fault(action="rate_limit", times=1)
    sf.fault(method="PATCH", path=UPSERT_PATH, action="error", status=400, times=1,
             body={"errorCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to this record"})

    async def scenario(client: SalesforceClient) -> None:
        action = CreateRecord(client)
        with pytest.raises(ProviderUnavailable) as limited:
            await action.forward(params, step)
        assert limited.value.retry_after_s == 60
        assert not limited.value.ambiguous
        with pytest.raises(ProviderUnavailable) as locked:
            await action.forward(params, step)
        assert "UNABLE_TO_LOCK_ROW" in locked.value.message
        await action.forward(params, step)

    drive(url, scenario)
    assert [e["op"] for e in sf.effects()] == ["create"]


def test_an_expired_session_is_terminal(sf: Instruments, url: str) -> None:
    sf.fault(action="error", status=401, times=1,
             body={"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"})

    async def scenario(client: SalesforceClient) -> None:
        await CreateRecord(client).forward(CreateRecordParams(sobject="Account", fields={"Name": "A"}),
                                           keys("a", "salesforce.create_record"))

    with pytest.raises(ProviderRejected) as refused:
        drive(url, scenario)
    assert refused.value.info.code == "unauthorized"
    assert TOKEN not in refused.value.info.model_dump_json()
    assert sf.effects() == []


@pytest.mark.parametrize("params", [
    {"sobject": "Account; DROP", "fields": {"Name": "A"}},
    {"sobject": "Account", "fields": {}},
    {"sobject": "Account", "fields": {"Pivot_Key__c": "mine"}},
    {"sobject": "Account", "fields": {"id": "001000000000001"}},
    {"sobject": "Account", "fields": {"Name": {"nested": True}}},
    {"sobject": "Account", "fields": {"Name": "x" * 10_001}},
    {"sobject": "Account", "fields": {"Name": "A"}, "key_field": "Pivot_Key"},
    {"sobject": "Account", "fields": {"Name": "A"}, "extra": 1},
])
def test_create_params_are_strict_and_bounded(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateRecordParams.model_validate(params)


def test_group_params_are_bounded_to_200_records_of_10_types() -> None:
    record = {"sobject": "Contact", "fields": {"LastName": "L"}}
    assert len(CreateRecordsAtomicParams.model_validate({"records": [record] * 200}).records) == 200
    eleven_types = [{"sobject": f"Thing{n}__c", "fields": {"Name": "x"}} for n in range(11)]
    for records in ([], [record] * 201, eleven_types):
        with pytest.raises(ValidationError):
            CreateRecordsAtomicParams.model_validate({"records": records})


def test_the_catalog_entries(url: str) -> None:
    async def scenario(client: SalesforceClient) -> None:
        actions = {action.name: action for action in salesforce_actions(client)}
        assert {name: action.kind for name, action in actions.items()} == {
            "salesforce.create_record": StepKind.COMPENSABLE,
            "salesforce.update_record": StepKind.COMPENSABLE,
            "salesforce.upsert_record": StepKind.RETRYABLE,
            "salesforce.create_records_atomic": StepKind.COMPENSABLE,
        }
        assert not any(action.pivot_eligible for action in actions.values())
        assert actions["salesforce.upsert_record"].compensate is None
        assert actions["salesforce.create_records_atomic"].atomicity.startswith("allOrNone=true, up to 200")
        assert {action.in_flight_window for action in actions.values()} == {timedelta(seconds=6)}
        result = {"sobject": "Account", "id": "001xx", "records": [{"sobject": "Account", "id": "001xx"}]}
        assert actions["salesforce.create_record"].describe(result) == "Salesforce Account 001xx was created"

    drive(url, scenario)
