"""The slice of the Admin GraphQL schema the sandbox serves, per API version.

Types, fields, arguments and enums carry Shopify's names, so a document that validates here
names only things the real 2026-01 schema has (the reverse does not hold: this is a subset).
2025-10 is the same schema without the `@idempotent` directive, which Shopify added in 2026-01.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema
from graphql.language import ast

IDEMPOTENT_DIRECTIVE = "directive @idempotent(key: String!) on FIELD\n"
VERSION_WITH_IDEMPOTENCY = "2026-01"
SUPPORTED_VERSIONS = ("2025-10", "2026-01")

_SDL = """
scalar DateTime
scalar Decimal
scalar Money
scalar URL

enum CurrencyCode { AUD CAD CHF EUR GBP JPY USD }
enum DraftOrderStatus { COMPLETED INVOICE_SENT OPEN }
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus {
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT RESTOCKED SCHEDULED UNFULFILLED
}
enum OrderTransactionKind { AUTHORIZATION CAPTURE CHANGE EMV_AUTHORIZATION REFUND SALE SUGGESTED_REFUND VOID }
enum OrderTransactionStatus { AWAITING_RESPONSE ERROR FAILURE PENDING SUCCESS UNKNOWN }
enum OrderCancelUserErrorCode {
  INTERNAL_ERROR INVALID NOT_FOUND NO_REFUND_PERMISSION NO_REFUND_TO_STORE_CREDIT_PERMISSION
}
enum DraftOrderSortKeys { CUSTOMER_NAME ID NUMBER RELEVANCE STATUS TOTAL_PRICE UPDATED_AT }
enum FulfillmentOrderStatus { CANCELLED CLOSED INCOMPLETE IN_PROGRESS ON_HOLD OPEN SCHEDULED }
enum FulfillmentStatus { CANCELLED ERROR FAILURE OPEN PENDING SUCCESS }

type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { presentmentMoney: MoneyV2! shopMoney: MoneyV2! }
type Attribute { key: String! value: String }
type UserError { field: [String!] message: String! }
type OrderCancelUserError { code: OrderCancelUserErrorCode field: [String!] message: String! }
type PageInfo { endCursor: String hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String }

type Job { done: Boolean! id: ID! }

type Shop {
  currencyCode: CurrencyCode! email: String! ianaTimezone: String! id: ID!
  metafield(key: String!, namespace: String): Metafield
  myshopifyDomain: String! name: String!
}

interface Node { id: ID! }

type Metafield {
  compareDigest: String! createdAt: DateTime! id: ID! key: String! namespace: String! type: String!
  updatedAt: DateTime! value: String!
}
enum MetafieldsSetUserErrorCode { APP_NOT_AUTHORIZED BLANK INVALID INVALID_TYPE INVALID_VALUE STALE_OBJECT TOO_LONG }
type MetafieldsSetUserError {
  code: MetafieldsSetUserErrorCode elementIndex: Int field: [String!] message: String!
}
type MetafieldsSetPayload { metafields: [Metafield!] userErrors: [MetafieldsSetUserError!]! }
input MetafieldsSetInput {
  compareDigest: String key: String! namespace: String ownerId: ID! type: String value: String!
}

type Location { id: ID! name: String! }
type InventoryQuantity { id: ID! name: String! quantity: Int! updatedAt: DateTime }
type InventoryLevel {
  createdAt: DateTime! id: ID! item: InventoryItem! location: Location!
  quantities(names: [String!]!): [InventoryQuantity!]! updatedAt: DateTime!
}
type InventoryItem {
  id: ID! inventoryLevel(locationId: ID!): InventoryLevel sku: String tracked: Boolean! variant: ProductVariant!
}
type InventoryChange {
  delta: Int! item: InventoryItem ledgerDocumentUri: String location: Location name: String!
  quantityAfterChange: Int
}
type InventoryAdjustmentGroup implements Node {
  app: App
  changes(inventoryItemIds: [ID!], locationIds: [ID!], quantityNames: [String!]): [InventoryChange!]!
  createdAt: DateTime! id: ID! reason: String! referenceDocumentUri: String
}
enum InventoryMoveQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE DIFFERENT_LOCATIONS IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  INTERNAL_LEDGER_DOCUMENT INVALID_AVAILABLE_DOCUMENT INVALID_INVENTORY_ITEM INVALID_LEDGER_DOCUMENT INVALID_LOCATION
  INVALID_QUANTITY_DOCUMENT INVALID_QUANTITY_NAME INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH INVALID_REASON
  INVALID_REFERENCE_DOCUMENT ITEM_NOT_STOCKED_AT_LOCATION MAXIMUM_LEDGER_DOCUMENT_URIS MOVE_QUANTITIES_FAILED
  NON_MUTABLE_INVENTORY_ITEM SAME_QUANTITY_NAME SERVICE_UNAVAILABLE
}
type InventoryMoveQuantitiesUserError {
  code: InventoryMoveQuantitiesUserErrorCode field: [String!] message: String!
}
type InventoryMoveQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup userErrors: [InventoryMoveQuantitiesUserError!]!
}
input InventoryMoveQuantityTerminalInput {
  changeFromQuantity: Int ledgerDocumentUri: String locationId: ID! name: String!
}
input InventoryMoveQuantityChange {
  from: InventoryMoveQuantityTerminalInput! inventoryItemId: ID! quantity: Int! to: InventoryMoveQuantityTerminalInput!
}
input InventoryMoveQuantitiesInput {
  changes: [InventoryMoveQuantityChange!]! reason: String! referenceDocumentUri: String!
}
type AccessScope { description: String! handle: String! }
type App { handle: String id: ID! title: String! }
type AppInstallation { accessScopes: [AccessScope!]! app: App! id: ID! }

type ProductVariant {
  displayName: String! id: ID! inventoryItem: InventoryItem! price: Money! sku: String title: String!
}

type DraftOrderLineItem {
  custom: Boolean! customAttributes: [Attribute!]! id: ID! name: String! originalTotalSet: MoneyBag!
  originalUnitPriceSet: MoneyBag! quantity: Int! requiresShipping: Boolean! sku: String taxable: Boolean!
  title: String! variant: ProductVariant
}
type DraftOrderLineItemEdge { cursor: String! node: DraftOrderLineItem! }
type DraftOrderLineItemConnection {
  edges: [DraftOrderLineItemEdge!]! nodes: [DraftOrderLineItem!]! pageInfo: PageInfo!
}

type DraftOrder {
  completedAt: DateTime createdAt: DateTime! currencyCode: CurrencyCode! customAttributes: [Attribute!]!
  email: String id: ID! invoiceUrl: URL
  lineItems(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    DraftOrderLineItemConnection!
  name: String! note2: String order: Order presentmentCurrencyCode: CurrencyCode! status: DraftOrderStatus!
  subtotalPriceSet: MoneyBag! tags: [String!]! totalPriceSet: MoneyBag! updatedAt: DateTime!
}
type DraftOrderEdge { cursor: String! node: DraftOrder! }
type DraftOrderConnection { edges: [DraftOrderEdge!]! nodes: [DraftOrder!]! pageInfo: PageInfo! }

type LineItem {
  customAttributes: [Attribute!]! id: ID! name: String! originalUnitPriceSet: MoneyBag! quantity: Int!
  sku: String title: String! variant: ProductVariant
}
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }

type OrderTransaction {
  amountSet: MoneyBag! createdAt: DateTime! gateway: String id: ID! kind: OrderTransactionKind!
  parentTransaction: OrderTransaction processedAt: DateTime status: OrderTransactionStatus!
}
type OrderTransactionEdge { cursor: String! node: OrderTransaction! }
type OrderTransactionConnection {
  edges: [OrderTransactionEdge!]! nodes: [OrderTransaction!]! pageInfo: PageInfo!
}

type FulfillmentOrderLineItem { id: ID! lineItem: LineItem! remainingQuantity: Int! totalQuantity: Int! }
type FulfillmentOrderLineItemEdge { cursor: String! node: FulfillmentOrderLineItem! }
type FulfillmentOrderLineItemConnection {
  edges: [FulfillmentOrderLineItemEdge!]! nodes: [FulfillmentOrderLineItem!]! pageInfo: PageInfo!
}
type FulfillmentOrder {
  fulfillments(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    FulfillmentConnection!
  id: ID!
  lineItems(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    FulfillmentOrderLineItemConnection!
  order: Order! orderId: ID! status: FulfillmentOrderStatus!
}
type FulfillmentOrderEdge { cursor: String! node: FulfillmentOrder! }
type FulfillmentOrderConnection {
  edges: [FulfillmentOrderEdge!]! nodes: [FulfillmentOrder!]! pageInfo: PageInfo!
}
type FulfillmentTrackingInfo { company: String number: String url: URL }
type FulfillmentLineItem { id: ID! lineItem: LineItem! quantity: Int }
type FulfillmentLineItemEdge { cursor: String! node: FulfillmentLineItem! }
type FulfillmentLineItemConnection {
  edges: [FulfillmentLineItemEdge!]! nodes: [FulfillmentLineItem!]! pageInfo: PageInfo!
}
type Fulfillment {
  createdAt: DateTime!
  fulfillmentLineItems(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    FulfillmentLineItemConnection!
  fulfillmentOrders(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    FulfillmentOrderConnection!
  id: ID! name: String! order: Order! status: FulfillmentStatus! totalQuantity: Int!
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]! updatedAt: DateTime!
}
type FulfillmentEdge { cursor: String! node: Fulfillment! }
type FulfillmentConnection { edges: [FulfillmentEdge!]! nodes: [Fulfillment!]! pageInfo: PageInfo! }

type Refund {
  createdAt: DateTime id: ID! note: String order: Order! totalRefundedSet: MoneyBag!
  transactions(after: String, before: String, first: Int, last: Int, reverse: Boolean = false):
    OrderTransactionConnection!
  updatedAt: DateTime!
}

type Order {
  cancelReason: OrderCancelReason cancelledAt: DateTime closed: Boolean! createdAt: DateTime!
  currencyCode: CurrencyCode! currentTotalPriceSet: MoneyBag! customAttributes: [Attribute!]!
  displayFinancialStatus: OrderDisplayFinancialStatus displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  email: String
  fulfillmentOrders(after: String, before: String, displayable: Boolean = false, first: Int, last: Int,
                    query: String, reverse: Boolean = false): FulfillmentOrderConnection!
  fulfillments(first: Int, query: String): [Fulfillment!]!
  id: ID!
  lineItems(after: String, before: String, first: Int, last: Int, reverse: Boolean = false): LineItemConnection!
  name: String! note: String presentmentCurrencyCode: CurrencyCode! refunds(first: Int): [Refund!]!
  subtotalPriceSet: MoneyBag tags: [String!]! totalPriceSet: MoneyBag! totalRefundedSet: MoneyBag!
  transactions(capturable: Boolean, first: Int, manuallyResolvable: Boolean): [OrderTransaction!]!
  updatedAt: DateTime!
}

input AttributeInput { key: String! value: String! }
input MoneyInput { amount: Decimal! currencyCode: CurrencyCode! }
input DraftOrderLineItemInput {
  customAttributes: [AttributeInput!] originalUnitPrice: Money originalUnitPriceWithCurrency: MoneyInput
  quantity: Int! requiresShipping: Boolean sku: String taxable: Boolean title: String variantId: ID
}
input DraftOrderInput {
  customAttributes: [AttributeInput!] email: String lineItems: [DraftOrderLineItemInput!] note: String
  phone: String poNumber: String presentmentCurrencyCode: CurrencyCode tags: [String!]
}
input DraftOrderDeleteInput { id: ID! }
input FulfillmentOrderLineItemInput { id: ID! quantity: Int! }
input FulfillmentOrderLineItemsInput {
  fulfillmentOrderId: ID! fulfillmentOrderLineItems: [FulfillmentOrderLineItemInput!]
}
input FulfillmentTrackingInput { company: String number: String numbers: [String!] url: URL urls: [URL!] }
input FulfillmentInput {
  lineItemsByFulfillmentOrder: [FulfillmentOrderLineItemsInput!]! notifyCustomer: Boolean = false
  trackingInfo: FulfillmentTrackingInput
}
input OrderCancelRefundMethodInput { originalPaymentMethodsRefund: Boolean }
input OrderTransactionInput {
  amount: Money! gateway: String! kind: OrderTransactionKind! orderId: ID! parentId: ID
}
input RefundInput {
  currency: CurrencyCode note: String notify: Boolean orderId: ID! transactions: [OrderTransactionInput!]
}

type DraftOrderCreatePayload { draftOrder: DraftOrder userErrors: [UserError!]! }
type DraftOrderCompletePayload { draftOrder: DraftOrder userErrors: [UserError!]! }
type DraftOrderDeletePayload { deletedId: ID userErrors: [UserError!]! }
type FulfillmentCreatePayload { fulfillment: Fulfillment userErrors: [UserError!]! }
type FulfillmentCancelPayload { fulfillment: Fulfillment userErrors: [UserError!]! }
type OrderCancelPayload {
  job: Job orderCancelUserErrors: [OrderCancelUserError!]!
  userErrors: [UserError!]! @deprecated(reason: "Use `orderCancelUserErrors` instead.")
}
type RefundCreatePayload { order: Order refund: Refund userErrors: [UserError!]! }

type QueryRoot {
  currentAppInstallation: AppInstallation!
  draftOrder(id: ID!): DraftOrder
  fulfillment(id: ID!): Fulfillment
  fulfillmentOrder(id: ID!): FulfillmentOrder
  inventoryItem(id: ID!): InventoryItem
  inventoryLevel(id: ID!): InventoryLevel
  location(id: ID): Location
  node(id: ID!): Node
  draftOrders(after: String, before: String, first: Int, last: Int, query: String, reverse: Boolean = false,
              sortKey: DraftOrderSortKeys = ID): DraftOrderConnection!
  job(id: ID!): Job
  order(id: ID!): Order
  productVariant(id: ID!): ProductVariant
  refund(id: ID!): Refund
  shop: Shop!
}

type Mutation {
  draftOrderComplete(id: ID!, paymentGatewayId: ID, paymentPending: Boolean = false, sourceName: String):
    DraftOrderCompletePayload
  draftOrderCreate(input: DraftOrderInput!): DraftOrderCreatePayload
  draftOrderDelete(input: DraftOrderDeleteInput!): DraftOrderDeletePayload
  inventoryMoveQuantities(input: InventoryMoveQuantitiesInput!): InventoryMoveQuantitiesPayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
  fulfillmentCancel(id: ID!): FulfillmentCancelPayload
  fulfillmentCreate(fulfillment: FulfillmentInput!, message: String): FulfillmentCreatePayload
  orderCancel(notifyCustomer: Boolean = false, orderId: ID!, reason: OrderCancelReason!, refund: Boolean,
              refundMethod: OrderCancelRefundMethodInput, restock: Boolean!, staffNote: String): OrderCancelPayload
  refundCreate(input: RefundInput!): RefundCreatePayload
}

schema { query: QueryRoot mutation: Mutation }
"""


def _decimal_value(value: Any) -> Decimal:
    """Decimal and Money inputs: a decimal string (or a JSON number), finite."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise GraphQLError(f"Invalid decimal '{value}'")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise GraphQLError(f"Invalid decimal '{value}'") from None
    if not parsed.is_finite():
        raise GraphQLError(f"Invalid decimal '{value}'")
    return parsed


def _decimal_literal(node: ast.ValueNode, _variables: Any = None) -> Decimal:
    if isinstance(node, (ast.StringValueNode, ast.IntValueNode, ast.FloatValueNode)):
        return _decimal_value(node.value)
    raise GraphQLError("Invalid decimal literal")


def decimal_text(value: Decimal) -> str:
    """Shopify's Decimal output: Ruby BigDecimal style, at least one decimal ("12.0", "19.99")."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def _serialize_decimal(value: Any) -> str:
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


def build_version_schema(version: str) -> GraphQLSchema:
    """A fresh schema object for one API version (resolvers are attached per sandbox instance)."""
    sdl = (IDEMPOTENT_DIRECTIVE if version >= VERSION_WITH_IDEMPOTENCY else "") + _SDL
    schema = build_schema(sdl)
    for name in ("Decimal", "Money"):
        scalar = schema.type_map[name]
        scalar.parse_value = _decimal_value  # type: ignore[attr-defined]
        scalar.parse_literal = _decimal_literal  # type: ignore[attr-defined]
        scalar.serialize = _serialize_decimal  # type: ignore[attr-defined]
    return schema
