"""What every Salesforce action shares: its client, and how long a request it sent may still land."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from pivot.compensations.kit import KeyedAction
from pivot.providers.salesforce.client import SalesforceClient

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Keyed:
    """A record, or what a write answered about it (its `Id`), and the step key it was found or
    written with: `verify` compares the record's key field with `key`."""

    key: str
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def deleted(self) -> bool:
        """In the Recycle Bin (found by queryAll)."""
        return self.record.get("IsDeleted") is True


class SalesforceAction(KeyedAction[P, F]):
    """A catalog action over one Salesforce client (credentials are read per request, never kept)."""

    def __init__(self, client: SalesforceClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window
