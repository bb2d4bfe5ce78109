"""Stripe (payments and invoicing), in the layout every provider shares: `client` (httpx, form
bodies, Idempotency-Key, Stripe's error taxonomy), `account` (`pivot doctor` and `pivot setup`),
`actions` (the catalog's Stripe actions, one `KeyedAction` each, a module per resource) and `money`
(amounts in words). `sandbox` is a local Stripe speaking its wire format: a test instrument for the
tests and the offline stack, which nothing a production install runs imports."""
