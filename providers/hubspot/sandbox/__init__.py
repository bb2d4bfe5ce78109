"""A local HubSpot CRM v3 for tests and the local stack: a test instrument, never imported by
what a production install runs (the client, the actions, the account checks).

    python -m pivot.providers.serve_sandboxes --hubspot 127.0.0.1:8102

Modules: `app` (the records, the endpoints, the pipeline), `search` (the CRM search's filters),
`properties` (property definitions and the properties API), `auth` (tokens, scopes, the
token-introspection call), `wire` (HubSpot's error envelope and timestamps).
"""

from pivot.providers.hubspot.sandbox.app import KEY_PROPERTY, HubSpotError, HubSpotSandbox, create_app

__all__ = ["KEY_PROPERTY", "HubSpotError", "HubSpotSandbox", "create_app"]
