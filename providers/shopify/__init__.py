"""Shopify Admin GraphQL: the client and actions Pivot uses, and a local sandbox speaking its wire format.

Shopify offers a native idempotency key (`@idempotent(key:)`) only on a few mutations such as
`refundCreate`; drafts, completions and cancellations get their exactly-once behaviour from a key
stored on the object (a tag plus a custom attribute) or from the object's one-way state (a draft
completes once, an order is cancelled once). `actions.py` says which, per action.
"""
