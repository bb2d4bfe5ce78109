"""HubSpot CRM v3 (contacts and deals): `client` (HTTP, HubSpot's errors; `ratelimit`: how long
its 429s wait), `account` (`pivot doctor` / `pivot setup`), `actions` (the catalog's HubSpot
actions), `sandbox` (a local HubSpot speaking its wire format: a test instrument, which nothing a
production install runs imports)."""
