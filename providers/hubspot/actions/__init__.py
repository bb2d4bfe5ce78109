"""The HubSpot part of the catalog: contacts, deals, property updates and batch creates.

HubSpot has no idempotency header: creates carry the saga key in the unique `pivot_key` property
and look it up before writing; updates carry their before-image (and key) in `pivot_undo`. One
`KeyedAction` per action: `contacts` (create_contact), `deals` (create_deal), `properties`
(update_properties), `batch` (batch_create); `keyed` holds what they share.
"""

from pivot.compensations.actions import Action
from pivot.providers.hubspot.actions.batch import BatchCreate, BatchCreateParams
from pivot.providers.hubspot.actions.contacts import CreateContact, CreateContactParams
from pivot.providers.hubspot.actions.deals import CreateDeal, CreateDealParams
from pivot.providers.hubspot.actions.properties import UpdateProperties, UpdatePropertiesParams
from pivot.providers.hubspot.client import HubSpotClient

__all__ = ["BatchCreate", "BatchCreateParams", "CreateContact", "CreateContactParams", "CreateDeal",
           "CreateDealParams", "UpdateProperties", "UpdatePropertiesParams", "hubspot_actions"]


def hubspot_actions(client: HubSpotClient) -> list[Action]:
    return [CreateContact(client).action(), CreateDeal(client).action(), UpdateProperties(client).action(),
            BatchCreate(client).action()]
