"""Slack Web API (messages): `client` (HTTP, Slack's `ok: false` errors), `account` (`pivot doctor`
/ `pivot setup`), `actions` (the catalog's Slack actions), `sandbox` (a local Slack speaking its
wire format: a test instrument, which nothing a production install runs imports)."""
