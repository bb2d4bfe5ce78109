"""Stripe: the client and actions Pivot uses, and a local sandbox speaking Stripe's wire format."""
