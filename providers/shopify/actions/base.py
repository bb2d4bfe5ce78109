"""What every Shopify action shares: its client and reads, and how long a request it sent may still land."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from pivot.compensations.kit import KeyedAction
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.shop import Shop

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Keyed:
    """An object as Shopify holds it (read by id), and the step key it was found or written with:
    `verify` checks that the object carries it. `deleted`: the object is gone, and `found` is what
    the step's verified result said about it (a deleted draft: Shopify returns null for it)."""

    key: str
    found: dict[str, Any]
    deleted: bool = False


class ShopifyAction(KeyedAction[P, F]):
    """A catalog action over one Shopify client (the access token is read per request, never kept)."""

    def __init__(self, client: ShopifyClient):
        self.client = client
        self.shop = Shop(client)

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window
