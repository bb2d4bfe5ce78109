"""The Salesforce actions of the catalog, written with the action kit (`pivot.kit.KeyedAction`).

One module per resource: `records` (create_record, keyed by the step key in an external-id field;
upsert_record, keyed by the agent's business external id), `updates` (update_record, undone from
its verified before-image) and `collections` (create_records_atomic, one allOrNone sObject
Collections request). Each module writes its idempotency argument down.
"""

from pivot.compensations.actions import Action
from pivot.providers.salesforce.actions.collections import CreateRecordsAtomic, CreateRecordsAtomicParams
from pivot.providers.salesforce.actions.records import (
    CreateRecord,
    CreateRecordParams,
    UpsertRecord,
    UpsertRecordParams,
)
from pivot.providers.salesforce.actions.updates import UpdateRecord, UpdateRecordParams
from pivot.providers.salesforce.client import SalesforceClient

__all__ = [
    "CreateRecord",
    "CreateRecordParams",
    "CreateRecordsAtomic",
    "CreateRecordsAtomicParams",
    "UpdateRecord",
    "UpdateRecordParams",
    "UpsertRecord",
    "UpsertRecordParams",
    "salesforce_actions",
]


def salesforce_actions(client: SalesforceClient) -> list[Action]:
    return [CreateRecord(client).action(), UpdateRecord(client).action(), UpsertRecord(client).action(),
            CreateRecordsAtomic(client).action()]
