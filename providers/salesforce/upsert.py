"""`salesforce.upsert_record`: create or update a record by the agent's business external id.

Retryable (it runs after the pivot and has no compensation): an upsert by external id is
idempotent by nature, since every attempt addresses the same record. The forward still looks the
record up first and writes only if some field differs, so a replay after a lost answer adds no
second effect (not even a no-op update that would bump LastModifiedDate and fire triggers again).
"""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import JsonDict
from pivot.compensations.keys import StepKeys
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.params import EXTERNAL_ID_VALUE, Fields, KeyField, SObjectName, check_writable
from pivot.providers.salesforce.records import read_and_verify, record_ref
from pivot.providers.salesforce.values import differing


class UpsertRecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    external_id_field: KeyField
    external_id: str = Field(pattern=EXTERNAL_ID_VALUE)
    fields: Fields

    @model_validator(mode="after")
    def _writable(self) -> "UpsertRecordParams":
        check_writable(self.fields, self.external_id_field)
        return self


class UpsertRecord:
    def __init__(self, client: SalesforceClient):
        self.client = client

    async def forward(self, params: UpsertRecordParams, keys: StepKeys) -> JsonDict:
        planned = dict(params.fields)
        found = await self.client.get_by_external_id(
            params.sobject, params.external_id_field, params.external_id, ["Id", *planned]
        )
        if found is not None and not differing(planned, found):
            record_id = str(found["Id"])  # already holds every value: a replay, or nothing to change
        else:
            upserted = await self.client.upsert(params.sobject, params.external_id_field, params.external_id, planned)
            record_id = upserted.id
        verified = await read_and_verify(self.client, params.sobject, record_id, planned,
                                         key=(params.external_id_field, params.external_id))
        return {
            "ref": record_ref(params.sobject, record_id),
            "id": record_id,
            "sobject": params.sobject,
            "external_id_field": params.external_id_field,
            "external_id": params.external_id,
            "fields": verified,
        }
