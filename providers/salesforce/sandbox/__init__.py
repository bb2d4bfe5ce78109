"""A local Salesforce REST API (v60.0) in Salesforce's wire format, on the shared sandbox kit.

Serves `/services/data/vXX.X/…`: sObject rows (create, read with `?fields=`, PATCH, DELETE to a
Recycle Bin), upserts and reads by external id (201/200, 300 on several matches), sObject
Collections (create, update, upsert, read, delete, with allOrNone), `/composite` with references,
and the SOQL lookups Pivot sends. Every response carries `Sforce-Limit-Info`; the kit's
`rate_limit` fault answers like Salesforce: 403 REQUEST_LIMIT_EXCEEDED, no Retry-After. The
ledger records every applied create, update and delete with the record's `Pivot_Key__c` as its
idempotency key, and with how the write arrived (`via`, `allOrNone`).

What `pivot doctor` and `pivot setup` talk to: the versions list (`GET /services/data/`, no
authentication needed, as in a real org), the resources of a version, the full describe of an
sObject, and the Tooling API's CustomField create and query (`schema`, `tooling`).
Credentials and permissions come from the kit's token book (`/_sandbox/tokens`): no token, a token
the sandbox was not configured with, or a revoked one is 401 INVALID_SESSION_ID ("Session expired or
invalid"), a token without the `api` permission 403 API_DISABLED_FOR_ORG, and object
permissions (`Account:read`, `Account:create`, …) shape describe. `/_sandbox/fields/{S}/{F}`
removes a field or grants its field-level security; `/_sandbox/reset` restores every default.

    python -m pivot.providers.serve_sandboxes --salesforce 127.0.0.1:8104

prints "sandboxes ready" once it answers its health check, and exits 0 on SIGTERM or SIGINT.

A test instrument: no production module imports it. One module per job: `app` (the HTTP pipeline
and the instrument routes), `api` (the REST resources, framework-free), `composite` (`/composite`),
`store` (records, validation, transactions), `schema` (fields, permissions, describe), `soql` (the
queries Pivot sends), `tooling` (the Tooling API that `pivot setup` uses).
"""

from pivot.providers.salesforce.sandbox.app import SalesforceSandbox, create_app

__all__ = ["SalesforceSandbox", "create_app"]
