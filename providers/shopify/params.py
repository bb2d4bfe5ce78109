"""The params of the Shopify actions: what an agent may ask for, strictly bounded.

Object references are Shopify global ids (`gid://shopify/DraftOrder/123`), usually taken from an
earlier step's verified result with `{"$from": "draft.id"}`. Money is a decimal in the shop's
currency, never a float.
"""

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY_TAG_PREFIX = "pivot-"
"""Tags starting with this carry step keys; an agent may not set them."""


def gid_pattern(resource: str) -> str:
    return rf"^gid://shopify/{resource}/\d{{1,20}}$"


_EMAIL = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$"
_CURRENCY = r"^[A-Z]{3}$"


class DraftLineItem(BaseModel):
    """A catalog variant (`variant_id`), or a custom item (`title` and `price`)."""

    model_config = ConfigDict(extra="forbid")

    variant_id: str | None = Field(default=None, pattern=gid_pattern("ProductVariant"))
    title: str | None = Field(default=None, min_length=1, max_length=255)
    price: Decimal | None = Field(default=None, gt=0, le=1_000_000, decimal_places=2)
    quantity: int = Field(ge=1, le=10_000)
    sku: str | None = Field(default=None, min_length=1, max_length=255)
    taxable: bool | None = None
    requires_shipping: bool | None = None

    @model_validator(mode="after")
    def _variant_or_custom(self) -> "DraftLineItem":
        if self.variant_id is not None:
            if self.title is not None or self.price is not None or self.sku is not None:
                raise ValueError("a variant line item takes its title, price and sku from the catalog")
        elif self.title is None or self.price is None:
            raise ValueError("a custom line item needs title and price (or give variant_id)")
        return self

    @property
    def custom(self) -> bool:
        return self.variant_id is None


class CreateDraftOrderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_items: list[DraftLineItem] = Field(min_length=1, max_length=50)
    currency: str = Field(default="USD", pattern=_CURRENCY, description="The draft's (presentment) currency")
    email: str | None = Field(default=None, pattern=_EMAIL)
    note: str | None = Field(default=None, max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not 1 <= len(tag) <= 40 or "," in tag:
                raise ValueError(f"tag {tag!r}: 1 to 40 characters, no commas (Shopify's limit)")
            if tag.lower().startswith(KEY_TAG_PREFIX):
                raise ValueError(f"tag {tag!r}: the prefix {KEY_TAG_PREFIX!r} is reserved for step keys")
        return tags

    @property
    def subtotal(self) -> Decimal | None:
        """The sum of the custom lines; None when a catalog variant's price is not known here."""
        if any(item.price is None for item in self.line_items):
            return None
        return sum((item.price * item.quantity for item in self.line_items if item.price is not None), Decimal(0))


class CompleteDraftOrderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    draft_order: str = Field(pattern=gid_pattern("DraftOrder"))
    payment_pending: bool = Field(default=False, description="True: the order awaits payment; False: marked paid")


CancelReason = Literal["CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"]


class CancelOrderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: str = Field(pattern=gid_pattern("Order"))
    reason: CancelReason = "OTHER"
    refund: bool = Field(default=True, description="Refund to the original payment methods")
    restock: bool = True
    notify_customer: bool = False
    staff_note: str | None = Field(default=None, max_length=200)


class RefundParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: str = Field(pattern=gid_pattern("Order"))
    amount: Decimal = Field(gt=0, le=1_000_000_000, decimal_places=2)
    currency: str | None = Field(default=None, pattern=_CURRENCY, description="Checked against the order's")
    note: str | None = Field(default=None, max_length=200)
    notify: bool = False


class ReserveInventoryParams(BaseModel):
    """Units of one inventory item set aside at one location (`available` → `reserved`)."""

    model_config = ConfigDict(extra="forbid")

    inventory_item: str = Field(pattern=gid_pattern("InventoryItem"))
    location: str = Field(pattern=gid_pattern("Location"))
    quantity: int = Field(ge=1, le=100_000)


class FulfillmentLine(BaseModel):
    """A fulfillment order line and how many of it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=gid_pattern("FulfillmentOrderLineItem"))
    quantity: int = Field(ge=1, le=100_000)


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: str | None = Field(default=None, min_length=1, max_length=100)
    number: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, pattern=r"^https://\S{1,2000}$")


class CreateFulfillmentParams(BaseModel):
    """Ships a fulfillment order: every line left, or `line_items`."""

    model_config = ConfigDict(extra="forbid")

    fulfillment_order: str = Field(pattern=gid_pattern("FulfillmentOrder"))
    line_items: list[FulfillmentLine] | None = Field(default=None, min_length=1, max_length=100)
    tracking: Tracking | None = None
    notify_customer: bool = False

    @field_validator("line_items")
    @classmethod
    def _distinct(cls, value: list[FulfillmentLine] | None) -> list[FulfillmentLine] | None:
        if value is not None and len({line.id for line in value}) != len(value):
            raise ValueError("each fulfillment order line at most once")
        return value
