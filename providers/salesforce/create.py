"""`salesforce.create_record`: one record, keyed by the step key in an external-id field.

Forward: look the record up by external id (= the step's forward key); only if it is absent,
write it with an upsert by that same external id, never a plain POST. The upsert matters when a
lost request lands late, after our lookup: it then turns our write into an update of that one
record instead of a second record. Then read the record back by id and verify every field.

Compensation: find the record by external id and delete it (it goes to the Recycle Bin). A
record that is already in the Recycle Bin (a compensation that crashed after its delete) is
found through queryAll, so a second run reports `compensated` again, not "nothing to undo".
"""

from pydantic import BaseModel, ConfigDict, model_validator

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.keys import StepKeys
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.params import DEFAULT_KEY_FIELD, Fields, KeyField, SObjectName, check_writable
from pivot.providers.salesforce.records import read_and_verify, record_ref


class CreateRecordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sobject: SObjectName
    fields: Fields
    key_field: KeyField = DEFAULT_KEY_FIELD
    """The External ID (Unique) text field that carries the step key on this sObject."""

    @model_validator(mode="after")
    def _writable(self) -> "CreateRecordParams":
        check_writable(self.fields, self.key_field)
        return self


class CreateRecord:
    def __init__(self, client: SalesforceClient):
        self.client = client

    async def forward(self, params: CreateRecordParams, keys: StepKeys) -> JsonDict:
        found = await self.client.get_by_external_id(params.sobject, params.key_field, keys.forward, ["Id"])
        if found is None:
            upserted = await self.client.upsert(params.sobject, params.key_field, keys.forward, dict(params.fields))
            record_id = upserted.id
        else:
            record_id = str(found["Id"])
        verified = await read_and_verify(self.client, params.sobject, record_id, dict(params.fields),
                                         key=(params.key_field, keys.forward))
        return {"ref": record_ref(params.sobject, record_id), "id": record_id, "sobject": params.sobject,
                "fields": verified}

    async def compensate(
        self, params: CreateRecordParams, keys: StepKeys, result: JsonDict | None
    ) -> CompensationReport:
        sobject = params.sobject
        found = await self.client.get_by_external_id(sobject, params.key_field, keys.forward, ["Id"])
        if found is not None:
            record_id = str(found["Id"])
            deleted = await self.client.delete(sobject, record_id)
            verb = "deleted (it is in the Recycle Bin)" if deleted else "was already deleted"
            return CompensationReport(state="compensated", detail=f"Salesforce {sobject} {record_id} {verb}")
        binned = [row for row in await self.client.find_by_values(sobject, params.key_field, [keys.forward],
                                                                   include_deleted=True)
                  if row.get("IsDeleted") is True]
        if binned:
            return CompensationReport(
                state="compensated", detail=f"Salesforce {sobject} {binned[0].get('Id')} is already in the Recycle Bin"
            )
        return CompensationReport(state="nothing_to_undo", detail=f"Salesforce holds no {sobject} for this step")
