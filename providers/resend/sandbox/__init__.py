"""A local Resend in Resend's wire format, for tests and the local stack: `POST /emails` with its
24-hour idempotency (replay, the 409s of a changed payload and of a request still in flight, the
400 of a bad key), `GET /emails/{id}`, `GET /emails` (cursor pages), `GET /domains`, Resend's error
bodies and rate-limit headers, and the sandbox kit's fault rules and effect ledger under `/_sandbox/`.
The official `resend` SDK talks to it unchanged (only `resend.api_url` pointed here).

    python -m pivot.providers.serve_sandboxes --resend 127.0.0.1:9106

Modules: `errors` (Resend's error bodies), `store` (emails, domains, idempotency records), `app`
(the HTTP pipeline and routes). One `ResendSandbox` per `create_app()`; nothing is module-level.
A test instrument: no production module imports it.
"""

from pivot.providers.resend.sandbox.app import ResendSandbox, create_app
from pivot.providers.resend.sandbox.store import SANDBOX_DOMAIN

__all__ = ["SANDBOX_DOMAIN", "ResendSandbox", "create_app"]
