"""The Salesforce actions of the catalog, bound to one client.

Each action's routine lives in its own module (create, update, upsert, group), where its
idempotency argument is written down; this module only declares them as catalog data.
"""

from pivot.compensations.actions import Action, JsonDict
from pivot.compensations.kinds import StepKind
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.create import CreateRecord, CreateRecordParams
from pivot.providers.salesforce.group import CreateRecordsAtomic, CreateRecordsAtomicParams, type_counts
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD
from pivot.providers.salesforce.update import UpdateRecord, UpdateRecordParams
from pivot.providers.salesforce.upsert import UpsertRecord, UpsertRecordParams


def _record(result: JsonDict) -> str:
    return f"Salesforce {result['sobject']} {result['id']}"


def _changed(result: JsonDict) -> str:
    names = [*(result.get("before") or {}), *(result.get("before_unknown") or [])]
    return f" ({', '.join(names)})" if names else ""


def _group(result: JsonDict) -> str:
    records = list(result.get("records") or [])
    return f"{len(records)} Salesforce records ({type_counts(records)}, first {records[0]['id']})"


def salesforce_actions(client: SalesforceClient) -> list[Action]:
    create, update = CreateRecord(client), UpdateRecord(client)
    upsert, group = UpsertRecord(client), CreateRecordsAtomic(client)
    window = client.http.in_flight_window
    return [
        Action(
            name="salesforce.create_record",
            kind=StepKind.COMPENSABLE,
            params=CreateRecordParams,
            forward=create.forward,
            compensate=create.compensate,
            key_carrier=f"step key in the external-id field {DEFAULT_KEY_FIELD} (External ID, Unique; "
            "`key_field` to override): looked up by it, then written as an upsert by it",
            readback="GET /sobjects/{Type}/{id}?fields=…: every field written, and the key field",
            compensation="delete (to the Recycle Bin); already deleted counts as done",
            describe=lambda r: f"{_record(r)} was created",
            describe_undo=lambda r: f"{_record(r)} was deleted (it is in the Recycle Bin)",
            not_run="No Salesforce record was created",
            in_flight_window=window,
        ),
        Action(
            name="salesforce.update_record",
            kind=StepKind.COMPENSABLE,
            params=UpdateRecordParams,
            forward=update.forward,
            compensate=update.compensate,
            key_carrier="none on the record (Salesforce has no update key): only fields that differ from the plan "
            "are written, so a replay writes nothing; the before-image travels in the verified result",
            readback="GET /sobjects/{Type}/{id}?fields=…: every planned field",
            compensation="restore each changed field if it still holds the saga's value; a field someone else "
            "changed, or whose earlier value is unknown, is a conflict and nothing is restored",
            describe=lambda r: f"{_record(r)} was updated{_changed(r)}",
            describe_undo=lambda r: f"{_record(r)} got its earlier values back{_changed(r)}",
            not_run="No Salesforce record was updated",
            in_flight_window=window,
        ),
        Action(
            name="salesforce.upsert_record",
            kind=StepKind.RETRYABLE,
            params=UpsertRecordParams,
            forward=upsert.forward,
            key_carrier="the agent's business external id (`external_id_field`/`external_id`): idempotent by "
            "nature; written only if a field differs",
            readback="GET /sobjects/{Type}/{id}?fields=…: every field written, and the external id",
            compensation="none: it runs after the pivot and is retried until it succeeds",
            describe=lambda r: f"{_record(r)} ({r['external_id_field']}={r['external_id']}) was upserted",
            not_run="No Salesforce record was upserted",
            in_flight_window=window,
        ),
        Action(
            name="salesforce.create_records_atomic",
            kind=StepKind.COMPENSABLE,
            params=CreateRecordsAtomicParams,
            forward=group.forward,
            compensate=group.compensate,
            key_carrier=f"sub-key '<step key>:<index>' in {DEFAULT_KEY_FIELD} of each record; the group is found "
            "by a SOQL lookup of its sub-keys",
            readback="GET /composite/sobjects/{Type}?ids=…&fields=…: every field of every record, and its sub-key",
            compensation="delete every record of the group in one DELETE /composite/sobjects (allOrNone=false, "
            "so an already deleted record does not block the rest)",
            describe=lambda r: f"{_group(r)} were created in one transaction",
            describe_undo=lambda r: f"{_group(r)} were deleted",
            not_run="No Salesforce records were created",
            atomicity="allOrNone=true, up to 200 records (one request: all created or none)",
            in_flight_window=window,
        ),
    ]
