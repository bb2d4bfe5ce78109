"""A small Resend client: `POST /emails` with its idempotency key, `GET /emails/{id}`, and raw reads
for `pivot doctor`. Resend's errors (`{"statusCode", "name", "message"}`) become the engine's:

- 429 and 5xx are handled by the shared layer (transient; a 5xx is ambiguous; Retry-After honoured);
- 409 `concurrent_idempotent_requests` (the same key is still being processed) is transient and
  ambiguous: the next attempt replays the key and gets the first request's answer;
- 409 `invalid_idempotent_request` (the key was used with another payload) is terminal
  (`idempotency_mismatch`): the step's payload is a function of its params and key, so this means
  somebody else used the key, and sending anyway could not be called exactly-once;
- every other 4xx is terminal, with Resend's `name` as the code.
"""

from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import Endpoint, ProviderHTTP, json_body, retry_after_seconds

RESEND_API = "https://api.resend.com"
EVERY_ERROR_STATUS = frozenset(range(400, 600))

Email = dict[str, Any]


def _error(response: httpx.Response, what: str) -> Exception:
    body = json_body(response) if response.content else {}
    name = str(body.get("name") or f"http_{response.status_code}") if isinstance(body, dict) else "bad_response"
    message = str(body.get("message") or "") if isinstance(body, dict) else ""
    said = f"Resend refused {what}: {name}" + (f" ({message})" if message else "")
    if name == "concurrent_idempotent_requests":
        return ProviderUnavailable(said, ambiguous=True, retry_after_s=retry_after_seconds(response))
    if name == "invalid_idempotent_request":
        return ProviderRejected("idempotency_mismatch", said)
    return ProviderRejected(name, said)


class ResendClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint)

    async def send(self, payload: dict[str, Any], key: str) -> str:
        """`POST /emails` carrying `key` as `Idempotency-Key`; the email's id (the first email's, when
        Resend replays the key within its 24 hours)."""
        response = await self.http.request("POST", "/emails", json=payload, headers={"Idempotency-Key": key})
        if response.status_code != 200:
            raise _error(response, "the email")
        body = json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ProviderRejected("bad_response", "Resend answered the send without an email id")
        return str(body["id"])

    async def get(self, email_id: str) -> Email | None:
        """`GET /emails/{id}`, or None when Resend has no such email."""
        response = await self.http.request("GET", f"/emails/{email_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _error(response, f"reading email {email_id}")
        body = json_body(response)
        if not isinstance(body, dict) or body.get("id") != email_id:
            raise ProviderRejected("bad_response", f"Resend answered GET /emails/{email_id} with another object")
        return body

    async def answer(self, path: str) -> httpx.Response:
        """One read answered as is (errors, 429 and 5xx included), for `pivot doctor`."""
        return await self.http.request("GET", path, passthrough=EVERY_ERROR_STATUS)
