"""Shopify Admin GraphQL: the client and actions Pivot uses, and a local sandbox speaking its wire format.

Shopify offers a native idempotency key (`@idempotent(key:)`) only on a few mutations such as
`refundCreate`; drafts, completions and cancellations get their exactly-once behaviour from a key
stored on the object (a tag plus a custom attribute) or from the object's one-way state (a draft
completes once, an order is cancelled once). `actions/` says which, per action.

`client` (one GraphQL endpoint), `account` (`pivot setup` / `pivot doctor`), `actions/` (the
catalog, one module per resource), `sandbox/` (the test instrument), and the helpers the actions
share: `documents` (the GraphQL they send), `shop` (reads by id, the asynchronous cancel),
`params`, `views` (money, ids, where keys live), `errors` (Shopify's refusals as engine failures).
"""
