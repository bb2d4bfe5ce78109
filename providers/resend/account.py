"""`pivot doctor` and `pivot setup` for a Resend account, through the client the sagas use.

Everything doctor needs comes from one `GET /domains`, a cheap authenticated read: its status says
whether the key works and whether it is a full-access key (a sending-only key is refused there with
401 `restricted_api_key`, and it could not make the step's read-back, `GET /emails/{id}`, either);
its body lists the sending domains and their verification status (an email can only be sent from a
verified one); `Date` is Resend's clock and the `ratelimit-*` headers the headroom. Pivot creates
nothing in a Resend account: the key travels in the `Idempotency-Key` header. A domain is verified
in DNS, by a person: `setup` says so when none is. The details name the environment variable
holding the key, never its value.
"""

from typing import Any

import httpx

from pivot.providers.account_kit import AccountBase, Check, Probe, SetupStep
from pivot.providers.http import retry_after_seconds
from pivot.providers.resend.client import ResendClient

DOMAINS_PAGE = "https://resend.com/domains"
KEYS_PAGE = "https://resend.com/api-keys"
AUTH_ERRORS = frozenset({"missing_api_key", "invalid_api_key", "validation_error"})
"""The names Resend gives a 401/403 for a key that is missing, unknown or deleted."""


def resend_body(response: httpx.Response) -> dict[str, Any] | None:
    """The body when it is a Resend answer (a list, or an error with `name`), else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and (body.get("object") == "list" or isinstance(body.get("name"), str)):
        return body
    return None


class ResendAccount(AccountBase):
    """A Resend account as `pivot setup` and `pivot doctor` see it."""

    provider = "resend"
    label = "Resend"

    def __init__(self, client: ResendClient, *, connection: str = "default") -> None:
        self.client = client
        self.connection = connection

    async def probe(self) -> Probe:
        return await self._probe_with(lambda: self.client.answer("/domains"))

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        probe = await self.probe()
        if probe.unreachable:
            return [self._check("reachable", False, probe.unreachable,
                                f"check the network and the base URL (PIVOT_RESEND_BASE_URL, now {self.url})")]
        if probe.no_credential or probe.response is None:
            return [self._check("credentials", False, probe.no_credential,
                                f"set {self.credential_env} to a full access API key (re_…) from {KEYS_PAGE}")]
        response = probe.response
        body = resend_body(response)
        identity = self._credentials(response, body)
        return [
            identity,
            self._access(identity.ok, response, body),
            self._check("key carriers", True, "none to create: the step key travels in the Idempotency-Key "
                        "header, which Resend keeps for 24 hours"),
            self._api_version(response, body),
            self._clock_check(response.headers.get("date"), probe.received_at),
            self._rate_limit(response),
            self._reachable(response),
        ]

    def _credentials(self, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        if response.status_code == 200 and body is not None:
            return self._check("credentials", True, f"the API key in {self.credential_env} works")
        name = str((body or {}).get("name") or "")
        if name == "restricted_api_key":
            return self._check("credentials", True, f"the API key in {self.credential_env} works (for sending only)")
        if name in AUTH_ERRORS or response.status_code in (401, 403):
            return self._check("credentials", False, f"Resend refused the API key in {self.credential_env}: "
                               f"{name or response.status_code}",
                               f"create a full access API key at {KEYS_PAGE} and put it in {self.credential_env}")
        return self._check("credentials", False, f"GET /domains answered HTTP {response.status_code}",
                           "run pivot doctor again; if it persists, see https://resend-status.com")

    def _access(self, key_ok: bool, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        """What the actions need: a full access key (the read-back reads emails) and a verified domain."""
        if str((body or {}).get("name")) == "restricted_api_key":
            return self._check("scopes", False, "the key has sending access only: Resend refuses it the read-back "
                               "(GET /emails/{id}) every send is verified with",
                               f"create an API key with Full access at {KEYS_PAGE} and put it in {self.credential_env}")
        if not key_ok or body is None:
            return self._check("scopes", False, "not checked: Resend did not accept the key",
                               "fix the credentials first")
        domains = [d for d in body.get("data") or [] if isinstance(d, dict)]
        verified = [str(d.get("name")) for d in domains if d.get("status") == "verified"]
        if not verified:
            pending = ", ".join(f"{d.get('name')} ({d.get('status')})" for d in domains) or "none added"
            return self._check("scopes", False, f"full access, but no verified sending domain (domains: {pending}); "
                               "Resend only sends from a verified domain (resend.dev is for tests to its own "
                               "addresses)", f"add and verify your domain's DNS records at {DOMAINS_PAGE}")
        return self._check("scopes", True, f"full access (sends and read-backs); verified sending domains: "
                           f"{', '.join(verified)}")

    def _api_version(self, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        if body is None:
            return self._check("api version", False, f"{self.url} does not answer like Resend's API "
                               f"(HTTP {response.status_code})",
                               f"point the base URL at https://api.resend.com (now {self.url})")
        return self._check("api version", True, "Resend's API answers (it is unversioned)")

    def _rate_limit(self, response: httpx.Response) -> Check:
        if response.status_code == 429:
            wait = retry_after_seconds(response)
            after = f" (retry-after {wait:g}s)" if wait is not None else ""
            return self._check("rate limit", False, f"Resend is rate-limiting this team right now{after}",
                               "wait; Resend's default is 2 requests per second per team, shared by every key")
        limit = response.headers.get("ratelimit-limit")
        remaining = response.headers.get("ratelimit-remaining")
        said = f"{remaining} of {limit} requests left in the window" if limit else "no ratelimit-limit header"
        return self._check("rate limit", True, f"{said}; Pivot waits out a 429's retry-after")

    def _reachable(self, response: httpx.Response) -> Check:
        if response.status_code >= 500:
            return self._check("reachable", False, f"Resend answered HTTP {response.status_code} at {self.url}",
                               "try again later; see https://resend-status.com")
        return self._check("reachable", True, f"Resend answered at {self.url}")

    # ------------------------------------------------------------------ setup

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Nothing to create (so `dry_run` changes nothing): the key carrier exists on every request; a
        verified sending domain is a person's job in DNS, named when missing."""
        steps = [self._step("key carrier: the Idempotency-Key header", "exists",
                            "nothing to create: every send carries the step key; Resend keeps it 24 hours")]
        probe = await self.probe()
        if probe.response is None:
            steps.append(self._step("sending domain", "manual", f"could not read the domains "
                                    f"({probe.unreachable or probe.no_credential}); verify one at {DOMAINS_PAGE}"))
            return steps
        access = self._access(self._credentials(probe.response, resend_body(probe.response)).ok,
                              probe.response, resend_body(probe.response))
        steps.append(self._step("full access key and a verified sending domain", "exists" if access.ok else "manual",
                                access.detail if access.ok else f"{access.detail}: {access.fix}"))
        return steps
