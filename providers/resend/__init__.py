"""Resend (transactional email): `client` (HTTP, Resend's `{statusCode, name, message}` errors),
`account` (`pivot doctor` / `pivot setup`), `actions` (`resend.send_email`, `resend.send_correction`),
`sandbox` (a local Resend in its wire format that the official `resend` SDK accepts unchanged: a test
instrument, which nothing a production install runs imports).

What Resend offers for exactly-once sends, as confirmed from its API reference, its OpenAPI document
(resend/resend-openapi) and its official Python SDK (`resend` 2.x on PyPI):

- `POST /emails` takes an `Idempotency-Key` header (1 to 256 characters). Resend keeps a key for 24
  hours: the same key with the same payload answers the first email's `{"id"}` without sending again;
  the same key with another payload is a 409 `invalid_idempotent_request`; a second request while the
  first is still being processed is a 409 `concurrent_idempotent_requests`; a key of the wrong length
  is a 400 `invalid_idempotency_key`.
- `GET /emails/{id}` returns the email (`object: "email"`, id, from, to, subject, html, text, cc, bcc,
  reply_to, created_at, last_event, scheduled_at); `GET /emails` lists them (cursor pagination
  `limit`/`after`/`before`). Neither returns tags or headers, and neither filters: there is no read by
  a key, a tag or a header. Tags reach webhooks and the dashboard only.
- Errors are `{"statusCode": N, "name": "<code>", "message": "…"}`; 429 `rate_limit_exceeded` with
  `retry-after` and the `ratelimit-limit` / `ratelimit-remaining` / `ratelimit-reset` headers (default
  2 requests per second per team); auth is `Authorization: Bearer re_…` (401 `missing_api_key`, 403
  `invalid_api_key`, 401 `restricted_api_key` for a sending-only key on any other endpoint).
- The SDK reads its base URL from `resend.api_url` (default from `RESEND_API_URL`, else
  https://api.resend.com), its key from `resend.api_key` (`RESEND_API_KEY`), and sends
  `Idempotency-Key` from `resend.Emails.send(params, options={"idempotency_key": …})`.
"""
