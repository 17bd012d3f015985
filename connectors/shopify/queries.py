"""The GraphQL Admin API documents the Shopify connector sends (and the sandbox answers).

Every operation is named (`Quittance…`): the sandbox dispatches on the operation name, and the
name shows up in Shopify's API logs, which makes support easier. Field selections are the ones
`connectors.shopify.mapping` reads; keep both in step.
"""

from __future__ import annotations

MONEY_BAG = "shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }"

TAX_LINES = f"taxLines {{ title rate ratePercentage priceSet {{ {MONEY_BAG} }} }}"

DISCOUNT_ALLOCATIONS = (
    f"discountAllocations {{ allocatedAmountSet {{ {MONEY_BAG} }} "
    "discountApplication { index } }"
)

LINE_PAGE = 30
REFUNDS_MAX = 50  # refunds listed per order; each is then read whole with refund_query()

LINE_CONNECTION = f"""
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      id name title variantTitle sku quantity requiresShipping
      customAttributes {{ key value }}
      originalUnitPriceSet {{ {MONEY_BAG} }}
      originalTotalSet {{ {MONEY_BAG} }}
      {TAX_LINES}
      {DISCOUNT_ALLOCATIONS}
    }} }}
"""

ADDRESS = (
    "name firstName lastName company address1 address2 zip city province provinceCode "
    "countryCodeV2 phone"
)

# One order, everything an invoice needs. Query cost: a connection costs `first` × its node, and
# Shopify refuses any single query above 1000 points, so nested connections stay small (about
# 700 requested points, far less actually spent) and the connector pages the line items of a
# big order with LINE_ITEMS_QUERY instead of asking for 250 at once.
ORDER_FIELDS = f"""
  id
  legacyResourceId
  name
  createdAt
  updatedAt
  processedAt
  cancelledAt
  test
  email
  phone
  note
  customerLocale
  currencyCode
  presentmentCurrencyCode
  taxesIncluded
  displayFinancialStatus
  paymentGatewayNames
  customAttributes {{ key value }}
  customer {{ firstName lastName email phone locale }}
  billingAddress {{ {ADDRESS} }}
  shippingAddress {{ {ADDRESS} }}
  totalPriceSet {{ {MONEY_BAG} }}
  totalTaxSet {{ {MONEY_BAG} }}
  totalDiscountsSet {{ {MONEY_BAG} }}
  discountApplications(first: 10) {{
    edges {{ node {{
      __typename index allocationMethod targetType
      ... on DiscountCodeApplication {{ code }}
      ... on AutomaticDiscountApplication {{ title }}
      ... on ManualDiscountApplication {{ title }}
      ... on ScriptDiscountApplication {{ title }}
    }} }}
  }}
  lineItems(first: {LINE_PAGE}) {{ {LINE_CONNECTION} }}
  shippingLines(first: 5) {{
    edges {{ node {{
      title code
      originalPriceSet {{ {MONEY_BAG} }}
      discountedPriceSet {{ {MONEY_BAG} }}
      {TAX_LINES}
      {DISCOUNT_ALLOCATIONS}
    }} }}
  }}
  transactions(first: 20) {{
    id kind status gateway formattedGateway processedAt createdAt authorizationCode test
    amountSet {{ {MONEY_BAG} }}
  }}
  refunds(first: {REFUNDS_MAX}) {{ id }}
"""

ORDER_QUERY = f"""
query QuittanceOrder($id: ID!) {{
  order(id: $id) {{ {ORDER_FIELDS} }}
}}
"""

LINE_ITEMS_QUERY = f"""
query QuittanceOrderLines($id: ID!, $after: String) {{
  order(id: $id) {{ lineItems(first: {LINE_PAGE}, after: $after) {{ {LINE_CONNECTION} }} }}
}}
"""

# One refund, everything a credit note needs, read by its id (`refund(id:)`). Read apart from
# the order: nested in it, `refunds(first: n)` × its line items would multiply past Shopify's
# 1000-point ceiling for a single query; alone a refund costs about 600 requested points.
# RefundLineItem.subtotalSet is excl. VAT and totalTaxSet its VAT, whatever `taxesIncluded`;
# the refund gives no rate, so the line item's own taxLines give it.
# Refunded shipping is in refundShippingLines: since 2024-10 order adjustments no longer carry
# it (OrderAdjustment.kind is gone), they are only the discrepancy between what the lines
# are worth and what was actually paid back, and the field itself exists from 2024-10 on.
REFUND_LINE_PAGE = 30

_REFUND_ADJUSTMENTS = f"""
    orderAdjustments(first: 10) {{
      edges {{ node {{ id reason amountSet {{ {MONEY_BAG} }} taxAmountSet {{ {MONEY_BAG} }} }} }}
    }}
"""


def refund_query(*, with_adjustments: bool = True) -> str:
    """QuittanceRefund: `with_adjustments` False for API versions before 2024-10."""
    adjustments = _REFUND_ADJUSTMENTS if with_adjustments else ""
    return f"""
query QuittanceRefund($id: ID!, $after: String) {{
  refund(id: $id) {{
    id
    legacyResourceId
    createdAt
    note
    totalRefundedSet {{ {MONEY_BAG} }}
    refundLineItems(first: {REFUND_LINE_PAGE}, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{
        quantity
        lineItem {{ id name sku requiresShipping {TAX_LINES} }}
        subtotalSet {{ {MONEY_BAG} }}
        totalTaxSet {{ {MONEY_BAG} }}
      }} }}
    }}
    refundShippingLines(first: 5) {{
      edges {{ node {{
        shippingLine {{ title {TAX_LINES} }}
        subtotalAmountSet {{ {MONEY_BAG} }}
        taxAmountSet {{ {MONEY_BAG} }}
      }} }}
    }}
    {adjustments}
    transactions(first: 10) {{
      edges {{ node {{
        id kind status gateway formattedGateway processedAt
        amountSet {{ {MONEY_BAG} }}
      }} }}
    }}
  }}
}}
"""


REFUND_QUERY = refund_query()

# Polling: a light list; each paid order is then read in full with ORDER_QUERY, unless the
# pipeline already invoiced it and knows exactly the refund ids listed here. The search needs
# the date QUOTED: unquoted, Shopify ignores the time part.
ORDERS_QUERY = """
query QuittancePaidOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name updatedAt displayFinancialStatus test refunds { id } } }
  }
}
"""

INVOICE_METAFIELDS_QUERY = """
query QuittanceInvoiceMetafields($id: ID!) {
  order(id: $id) {
    id
    note
    number: metafield(namespace: "quittance", key: "invoice_number") { value compareDigest }
    url: metafield(namespace: "quittance", key: "invoice_url") { value compareDigest }
    creditNotes: metafield(namespace: "quittance", key: "credit_notes") { value compareDigest }
  }
}
"""

METAFIELDS_SET = """
mutation QuittanceMetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { namespace key value }
    userErrors { field message code }
  }
}
"""

ORDER_NOTE_UPDATE = """
mutation QuittanceOrderNote($input: OrderInput!) {
  orderUpdate(input: $input) {
    order { id note }
    userErrors { field message }
  }
}
"""

# `uri` replaced `callbackUrl` / `endpoint` in 2025-10; older versions use the deprecated pair.
WEBHOOKS_QUERY_URI = """
query QuittanceWebhooks {
  webhookSubscriptions(first: 100, topics: [ORDERS_PAID, REFUNDS_CREATE]) {
    edges { node { id topic format uri } }
  }
}
"""
WEBHOOKS_QUERY_LEGACY = """
query QuittanceWebhooks {
  webhookSubscriptions(first: 100, topics: [ORDERS_PAID, REFUNDS_CREATE]) {
    edges { node { id topic format endpoint { ... on WebhookHttpEndpoint { callbackUrl } } } }
  }
}
"""

WEBHOOK_CREATE_URI = """
mutation QuittanceWebhookCreate($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""
WEBHOOK_CREATE_LEGACY = """
mutation QuittanceWebhookCreate($topic: WebhookSubscriptionTopic!, $uri: URL!) {
  webhookSubscriptionCreate(
    topic: $topic, webhookSubscription: {callbackUrl: $uri, format: JSON}
  ) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}
"""

CHECK_QUERY = """
query QuittanceCheck {
  shop { name myshopifyDomain currencyCode }
  currentAppInstallation { accessScopes { handle } }
}
"""
