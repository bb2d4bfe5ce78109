"""The GraphQL documents the Shopify actions send, in one place (and the fulfilment a conformance run
sends as a third party).

Named operations (`Pivot…`) make them easy to find in Shopify's logs; fragments keep the read-back
views identical between the lookup and the read after a write. Only fields that exist in the Admin
API 2026-01 schema are used; the sandbox validates every document against its copy of that schema
and prices it like Shopify (a document over 1000 points is refused), so the views stay lean: the
search returns ids and key attributes only, and an order lists its first 20 payments and refunds.
"""

MONEY = "shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }"

DRAFT_ORDER_VIEW = f"""
fragment PivotDraftOrder on DraftOrder {{
  id name status email note2 tags completedAt
  customAttributes {{ key value }}
  subtotalPriceSet {{ {MONEY} }}
  totalPriceSet {{ {MONEY} }}
  lineItems(first: 50) {{
    nodes {{ id title quantity custom variant {{ id }} originalUnitPriceSet {{ {MONEY} }} }}
  }}
  order {{ id name cancelledAt }}
}}
"""

ORDER_VIEW = f"""
fragment PivotOrder on Order {{
  id name createdAt cancelledAt cancelReason displayFinancialStatus displayFulfillmentStatus
  customAttributes {{ key value }}
  totalPriceSet {{ {MONEY} }}
  totalRefundedSet {{ {MONEY} }}
  transactions(first: 20) {{ id kind status gateway parentTransaction {{ id }} amountSet {{ {MONEY} }} }}
  refunds(first: 20) {{ id note totalRefundedSet {{ {MONEY} }} }}
}}
"""

FIND_DRAFT_ORDERS = """
query PivotFindDraftOrders($query: String!) {
  draftOrders(first: 10, query: $query) { nodes { id customAttributes { key value } } }
}
"""

DRAFT_ORDER = DRAFT_ORDER_VIEW + """
query PivotDraftOrder($id: ID!) { draftOrder(id: $id) { ...PivotDraftOrder } }
"""

DRAFT_ORDER_CREATE = """
mutation PivotDraftOrderCreate($input: DraftOrderInput!) {
  draftOrderCreate(input: $input) { draftOrder { id } userErrors { field message } }
}
"""

DRAFT_ORDER_DELETE = """
mutation PivotDraftOrderDelete($input: DraftOrderDeleteInput!) {
  draftOrderDelete(input: $input) { deletedId userErrors { field message } }
}
"""

DRAFT_ORDER_COMPLETE = """
mutation PivotDraftOrderComplete($id: ID!, $paymentPending: Boolean!) {
  draftOrderComplete(id: $id, paymentPending: $paymentPending) {
    draftOrder { id status order { id } }
    userErrors { field message }
  }
}
"""

ORDER = ORDER_VIEW + """
query PivotOrder($id: ID!) { order(id: $id) { ...PivotOrder } }
"""

ORDER_CANCEL = """
mutation PivotOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $refundMethod: OrderCancelRefundMethodInput!,
                          $restock: Boolean!, $notifyCustomer: Boolean!, $staffNote: String!) {
  orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock,
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

JOB = """
query PivotJob($id: ID!) { job(id: $id) { id done } }
"""

REFUND_CREATE = """
mutation PivotRefundCreate($input: RefundInput!, $idempotencyKey: String!) {
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {
    refund { id }
    userErrors { field message }
  }
}
"""

REFUND = f"""
query PivotRefund($id: ID!) {{
  refund(id: $id) {{
    id note createdAt
    order {{ id name }}
    totalRefundedSet {{ {MONEY} }}
    transactions(first: 20) {{ nodes {{ id kind status gateway parentTransaction {{ id }} amountSet {{ {MONEY} }} }} }}
  }}
}}
"""

SHOP_CURRENCY = """
query PivotShopCurrency { shop { currencyCode } }
"""

FULFILLMENT_ORDERS = """
query PivotFulfillmentOrders($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id status } } } }
"""

FULFILLMENT_CREATE = """
mutation PivotFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) { fulfillment { id status } userErrors { field message } }
}
"""

INVENTORY_MOVE = """
mutation PivotInventoryMove($input: InventoryMoveQuantitiesInput!, $idempotencyKey: String!) {
  inventoryMoveQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { field message code }
  }
}
"""

ADJUSTMENT_GROUP = """
query PivotAdjustmentGroup($id: ID!, $item: ID!, $location: ID!) {
  node(id: $id) {
    id
    ... on InventoryAdjustmentGroup {
      reason referenceDocumentUri createdAt
      changes { name delta quantityAfterChange ledgerDocumentUri item { id } location { id } }
    }
  }
  inventoryItem(id: $item) {
    inventoryLevel(locationId: $location) {
      id quantities(names: ["available", "reserved", "on_hand"]) { name quantity }
    }
  }
}
"""

SHOP_RECORD = """
query PivotShopRecord($namespace: String!, $key: String!) {
  shop { id metafield(namespace: $namespace, key: $key) { id value compareDigest } }
}
"""

SET_SHOP_RECORD = """
mutation PivotSetShopRecord($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) { metafields { id value } userErrors { field message code } }
}
"""

FULFILLMENT_ORDER = """
query PivotFulfillmentOrder($id: ID!) {
  fulfillmentOrder(id: $id) {
    id status orderId
    lineItems(first: 100) { nodes { id remainingQuantity totalQuantity lineItem { id } } }
    fulfillments(first: 50) { nodes { id } }
  }
}
"""

FULFILLMENT_VIEW = """
fragment PivotFulfillment on Fulfillment {
  id name status createdAt totalQuantity
  order { id name }
  trackingInfo(first: 5) { company number url }
  fulfillmentLineItems(first: 100) { nodes { id quantity lineItem { id } } }
  fulfillmentOrders(first: 5) { nodes { id } }
}
"""

FULFILLMENT = FULFILLMENT_VIEW + """
query PivotFulfillment($id: ID!) { fulfillment(id: $id) { ...PivotFulfillment } }
"""

FULFILLMENT_SHIP = """
mutation PivotFulfillmentShip($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

FULFILLMENT_CANCEL = """
mutation PivotFulfillmentCancel($id: ID!) {
  fulfillmentCancel(id: $id) { fulfillment { id status } userErrors { field message } }
}
"""
