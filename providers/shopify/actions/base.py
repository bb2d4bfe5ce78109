"""What every Shopify action shares: its client and reads, and how long a request it sent may still land."""

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel

from pivot.compensations.kit import KeyedAction
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.shop import Shop

P = TypeVar("P", bound=BaseModel)
F = TypeVar("F")


class ShopifyAction(KeyedAction[P, F]):
    """A catalog action over one Shopify client (the access token is read per request, never kept)."""

    def __init__(self, client: ShopifyClient):
        self.client = client
        self.shop = Shop(client)

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window
