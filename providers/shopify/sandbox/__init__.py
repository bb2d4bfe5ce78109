"""A local Shopify Admin GraphQL API (versions 2025-10 and 2026-01), for tests and the local stack.

It parses and validates each document with graphql-core against a copy of the slice of Shopify's
schema Pivot uses, then runs it against an in-memory shop: draft orders, orders, transactions,
refunds, asynchronous cancel jobs, and fulfilments (one fulfillment order per order, shipped
whole: what a third party does to an order in a conformance run). It speaks Shopify's wire format (global ids, "#D1" and
"#1001" names, money bags, userErrors, the cost-based leaky bucket with THROTTLED answers,
`@idempotent(key:)` replays and mismatches, Shopify's 401 body), and adds the sandbox kit's
fault rules and effect ledger under `/_sandbox/`.

    python -m pivot.providers.serve_sandboxes --shopify 127.0.0.1:9104

Modules: `schema` (SDL per version), `cost` (query cost, bucket), `store` (the shop and its
rules), `render` (objects as GraphQL values), `resolvers` (root fields), `access` (access scopes
and ACCESS_DENIED, from the kit's token book), `idempotency`
(`@idempotent` keys), `search` (search syntax), `app` (the HTTP pipeline), `__main__` (runner).

A test instrument: no production module imports it.
"""

from pivot.providers.shopify.sandbox.app import ShopifySandbox, create_app

__all__ = ["ShopifySandbox", "create_app"]
