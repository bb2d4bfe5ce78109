"""What every Salesforce action shares: its client, and how long a request it sent may still land."""

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel

from pivot.compensations.kit import KeyedAction
from pivot.providers.salesforce.client import SalesforceClient

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


class SalesforceAction(KeyedAction[P, F]):
    """A catalog action over one Salesforce client (credentials are read per request, never kept)."""

    def __init__(self, client: SalesforceClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window
