"""The HubSpot part of the catalog: contacts, deals, property updates and batch creates.

HubSpot has no idempotency header: creates carry the saga key in the unique `pivot_key` property
and look it up before writing; updates carry their before-image (and key) in `pivot_undo`.
"""

from pivot.compensations.actions import Action
from pivot.compensations.kinds import StepKind
from pivot.providers.hubspot.actions.batch import BatchActions, BatchCreateParams
from pivot.providers.hubspot.actions.contacts import ContactActions, CreateContactParams
from pivot.providers.hubspot.actions.deals import CreateDealParams, DealActions
from pivot.providers.hubspot.actions.keyed import KEY_PROPERTY, UNDO_PROPERTY
from pivot.providers.hubspot.actions.updates import UpdateActions, UpdatePropertiesParams
from pivot.providers.hubspot.client import HubSpotClient

__all__ = ["BatchCreateParams", "CreateContactParams", "CreateDealParams", "UpdatePropertiesParams",
           "hubspot_actions"]


def hubspot_actions(client: HubSpotClient) -> list[Action]:
    contacts, deals = ContactActions(client), DealActions(client)
    updates, batches = UpdateActions(client), BatchActions(client)
    window = client.http.in_flight_window
    return [
        Action(
            name="hubspot.create_contact",
            kind=StepKind.COMPENSABLE,
            params=CreateContactParams,
            forward=contacts.create_contact,
            compensate=contacts.archive_contact,
            key_carrier=f"unique contact property '{KEY_PROPERTY}', looked up with idProperty before writing "
            "(skipped on a write no earlier attempt can have sent)",
            readback="GET /crm/v3/objects/contacts/{id}: email, firstname, lastname, key property",
            compensation="archive (DELETE, restorable for 90 days)",
            describe=lambda r: f"HubSpot contact {r['id']} ({r.get('email')}) was created",
            describe_undo=lambda r: f"HubSpot contact {r['id']} was archived",
            not_run="No HubSpot contact was created",
            in_flight_window=window,
            lookup_before_write=True,
        ),
        Action(
            name="hubspot.create_deal",
            kind=StepKind.COMPENSABLE,
            params=CreateDealParams,
            forward=deals.create_deal,
            compensate=deals.archive_deal,
            key_carrier=f"unique deal property '{KEY_PROPERTY}', looked up with idProperty before writing "
            "(skipped on a write no earlier attempt can have sent)",
            readback="GET /crm/v3/objects/deals/{id}: dealname, amount, pipeline, dealstage, closedate, key property",
            compensation="archive (DELETE, restorable for 90 days)",
            describe=lambda r: f"HubSpot deal {r['id']} ({r.get('dealname')}) was created",
            describe_undo=lambda r: f"HubSpot deal {r['id']} was archived",
            not_run="No HubSpot deal was created",
            in_flight_window=window,
            lookup_before_write=True,
        ),
        Action(
            name="hubspot.update_properties",
            kind=StepKind.COMPENSABLE,
            params=UpdatePropertiesParams,
            forward=updates.update_properties,
            compensate=updates.restore_properties,
            key_carrier=f"property '{UNDO_PROPERTY}' = {{step key, before-image}}, written in the same PATCH as "
            "the change and read before writing (a retry after a lost answer finds its own stamp)",
            readback="GET /crm/v3/objects/{type}/{id}: every written property and the stamp's key",
            compensation="restore the before-image only where the field still holds the saga's value (already "
            "restored counts as done); any field changed by someone else: CompensationConflict, nothing written",
            describe=lambda r: f"HubSpot {r['ref'].split(':', 1)[1]} was updated ({', '.join(sorted(r['after']))})",
            describe_undo=lambda r: f"HubSpot {r['ref'].split(':', 1)[1]} was restored",
            not_run="No HubSpot record was updated",
            in_flight_window=window,
        ),
        Action(
            name="hubspot.batch_create",
            kind=StepKind.COMPENSABLE,
            params=BatchCreateParams,
            forward=batches.batch_create,
            compensate=batches.batch_archive,
            key_carrier=f"'{KEY_PROPERTY}' = step key + ':index' per input; batch/read by idProperty before "
            "creating only the missing inputs",
            readback="POST batch/read by pivot_key: every input's properties",
            compensation="batch archive of every object carrying one of the step's keys",
            atomicity="one batch/create call for up to 100 inputs; not all-or-nothing (207 partial), so a "
            "partial batch fails the step and the compensation archives what was created",
            describe=lambda r: f"{r['count']} HubSpot {r['object_type']} were created",
            describe_undo=lambda r: f"{r['count']} HubSpot {r['object_type']} were archived",
            not_run="No HubSpot records were batch-created",
            in_flight_window=window,
        ),
    ]
