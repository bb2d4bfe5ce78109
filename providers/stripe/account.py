"""`pivot doctor` and `pivot setup` for a Stripe account, through the client the sagas use.

Stripe needs nothing created: the saga key travels in the `Idempotency-Key` header, whose saved
answers Stripe keeps itself, and in `metadata[pivot_key]`, which needs no schema. What can be
wrong is the key: unknown or expired (401), or a restricted key (`rk_…`) without write access to a
resource the catalog writes (403, `invalid_request_error`, naming the missing `rak_…` permission).

Doctor finds a missing permission without writing anything: for each resource the catalog writes
it sends an update, without parameters, of an object that cannot exist
(`POST /v1/customers/cus_PivotDoctorProbe`). Stripe checks a restricted key's permission for the
endpoint before it looks the object up, so a key that may write gets 404 and one that may not
gets 403. Before that, `GET /v1/account` says whose key it is, whether charges are enabled, which
API version was served (`Stripe-Version`) and Stripe's clock (`Date`). The details name the
environment variable holding the key and its kind (from its `sk_test_`-style prefix), never the
key, and never quote Stripe's messages (they repeat the key's last characters).
"""

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.account_kit import AccountBase, Check, SetupStep
from pivot.providers.http import retry_after_seconds
from pivot.providers.stripe.client import STRIPE_VERSION, StripeClient

KEYS_PAGE = "https://dashboard.stripe.com/apikeys"
_PERMISSION = re.compile(r"'(rak_[a-z_]+)'")
_ACCOUNT = re.compile(r"on account '(acct_[A-Za-z0-9]+)'")
REFUSALS = ("Invalid API Key provided", "Expired API Key provided", "You did not provide an API key")
"""How Stripe's 401 messages begin: doctor quotes that much and never the rest (the masked key)."""


@dataclass(frozen=True)
class Written:
    """A resource the catalog writes, and the update that probes write access to it."""

    name: str
    dashboard: str
    probe_path: str
    permission: str
    used_by: str


WRITTEN = (
    Written("customers", "Customers", "/v1/customers/cus_PivotDoctorProbe", "rak_customer_write",
            "stripe.create_customer and its undo"),
    Written("invoices", "Invoices", "/v1/invoices/in_PivotDoctorProbe", "rak_invoice_write",
            "stripe.create_invoice, stripe.send_invoice and the void"),
    Written("invoice items", "Invoice items", "/v1/invoiceitems/ii_PivotDoctorProbe", "rak_invoice_item_write",
            "stripe.create_invoice's lines"),
    Written("PaymentIntents", "PaymentIntents", "/v1/payment_intents/pi_PivotDoctorProbe", "rak_payment_intent_write",
            "stripe.charge and its cancel"),
    Written("refunds", "Refunds", "/v1/refunds/re_PivotDoctorProbe", "rak_refund_write",
            "stripe.refund and stripe.charge's undo"),
)
"""Every resource a catalog action creates, updates or deletes (write implies read on Stripe)."""


@dataclass
class Answers:
    """What Stripe answered to the account read and the write probes, or why it did not."""

    account: httpx.Response | None
    received_at: float
    probes: dict[str, httpx.Response | str] = field(default_factory=dict)
    """By permission: the answer, or why there was none."""
    unreachable: str = ""
    no_credential: str = ""


def stripe_error(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of a Stripe error body, or {}."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


class StripeAccount(AccountBase):
    """A Stripe account as `pivot setup` and `pivot doctor` see it."""

    provider = "stripe"
    label = "Stripe"

    def __init__(self, client: StripeClient, *, connection: str = "default") -> None:
        self.client = client
        self.connection = connection

    def key_kind(self) -> str:
        """The key's kind ("a test-mode restricted key"), read from its first 8 characters only."""
        try:
            prefix = self.client.http.credential()[:8]
        except ProviderRejected:
            prefix = ""
        mode = "live-mode " if prefix.endswith("_live_") else "test-mode " if prefix.endswith("_test_") else ""
        kind = {"sk_": "secret key", "rk_": "restricted key"}.get(prefix[:3], "key of an unknown kind")
        return f"a {mode}{kind}"


    async def probe(self) -> Answers:
        """`GET /v1/account`, then (when the key was accepted) the write probes, concurrently."""
        try:
            account = await self.client.answer("GET", "/v1/account")
        except ProviderRejected as refused:  # the key's environment variable is not set
            return Answers(None, time.time(), no_credential=refused.info.message)
        except ProviderUnavailable as down:
            return Answers(None, time.time(), unreachable=f"Stripe did not answer at {self.url}: {down.message}")
        answers = Answers(account, time.time())
        if account.status_code in (401, 429) or account.status_code >= 500:
            return answers
        results = await asyncio.gather(*(self.client.answer("POST", resource.probe_path) for resource in WRITTEN),
                                       return_exceptions=True)
        for resource, result in zip(WRITTEN, results, strict=True):
            if isinstance(result, httpx.Response):
                answers.probes[resource.permission] = result
            elif isinstance(result, (ProviderRejected, ProviderUnavailable)):
                answers.probes[resource.permission] = str(result)
            elif isinstance(result, BaseException):
                raise result
        return answers

    def permission_gaps(self, answers: Answers) -> tuple[dict[Written, str], dict[Written, str]]:
        """({resource the key may not write: the permission Stripe asked for},
        {resource whose probe had no usable answer: why})."""
        missing: dict[Written, str] = {}
        unknown: dict[Written, str] = {}
        for resource in WRITTEN:
            answer = answers.probes.get(resource.permission, "not probed")
            if isinstance(answer, str):
                unknown[resource] = answer
            elif answer.status_code == 403:
                asked = _PERMISSION.search(str(stripe_error(answer).get("message") or ""))
                missing[resource] = asked.group(1) if asked else resource.permission
            elif answer.status_code != 404:
                unknown[resource] = f"HTTP {answer.status_code}"
        return missing, unknown

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        """Every check from `GET /v1/account` and the write probes. With no answer at all, the one
        failing check says why (unreachable, or no key configured)."""
        answers = await self.probe()
        if answers.unreachable:
            return [self._check("reachable", False, answers.unreachable,
                                f"check the network and the base URL (PIVOT_STRIPE_BASE_URL, now {self.url})")]
        if answers.no_credential or answers.account is None:
            return [self._check("credentials", False, answers.no_credential,
                                f"set {self.credential_env} to a secret key (sk_…) or a restricted key (rk_…)")]
        account = answers.account
        identity = self._credentials(account)
        return [
            identity,
            self._permissions(identity.ok, answers),
            self._check("key carriers", True, "none to create: the key travels in the Idempotency-Key header "
                        "(Stripe keeps the saved answers) and in metadata[pivot_key], which needs no schema"),
            self._api_version(account),
            self._clock(account, answers.received_at),
            self._rate_limit(answers),
            self._reachable(account),
        ]

    def _credentials(self, account: httpx.Response) -> Check:
        error = stripe_error(account)
        if account.status_code == 200:
            try:
                body = account.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or body.get("object") != "account":
                return self._check("credentials", False, "GET /v1/account did not answer with an account object",
                                   f"point the base URL at https://api.stripe.com (now {self.url})")
            name = ((body.get("settings") or {}).get("dashboard") or {}).get("display_name") or \
                (body.get("business_profile") or {}).get("name")
            charges = "charges are enabled" if body.get("charges_enabled") else \
                "charges are NOT enabled: stripe.charge steps will be declined until the account is activated"
            live = "; live mode: sagas move real money" if self.key_kind().startswith("a live") else ""
            return self._check("credentials", True, f"the key in {self.credential_env} works: {self.key_kind()} of "
                               f"account {body.get('id')}{f' ({name})' if name else ''}; {charges}{live}")
        if account.status_code == 403:
            owner = _ACCOUNT.search(str(error.get("message") or ""))
            of = f" of account {owner.group(1)}" if owner else ""
            return self._check("credentials", True, f"the key in {self.credential_env} works: {self.key_kind()}{of}; "
                               "it may not read the account object, which Pivot does not need")
        fix = (f"create a secret key, or a restricted key with Write on {', '.join(r.dashboard for r in WRITTEN)}, "
               f"at {KEYS_PAGE} and put it in {self.credential_env}")
        if account.status_code == 401:
            why = "it has expired (it was rolled or revoked)" if error.get("code") == "api_key_expired" else \
                "it is not a key Stripe knows"
            message = str(error.get("message") or "")
            said = next((f" {refusal}" for refusal in REFUSALS if message.startswith(refusal)), "")
            return self._check("credentials", False,
                               f"Stripe refused the key in {self.credential_env} (401{said}): {why}", fix)
        if account.status_code == 429:
            return self._check("credentials", False, "not checked: Stripe rate-limited GET /v1/account (429)",
                               "run pivot doctor again in a moment")
        kind = "/".join(str(part) for part in (error.get("type"), error.get("code")) if part) or "no Stripe error body"
        return self._check("credentials", False, f"GET /v1/account answered HTTP {account.status_code} ({kind})",
                           f"point the base URL at https://api.stripe.com (now {self.url})")

    def _permissions(self, key_ok: bool, answers: Answers) -> Check:
        if not key_ok:
            return self._check("scopes", False, "not checked: Stripe did not accept the key",
                               "fix the credentials first")
        missing, unknown = self.permission_gaps(answers)
        names = ", ".join(resource.name for resource in WRITTEN)
        if missing:
            lacking = "; ".join(f"{resource.name} ({asked}: {resource.used_by})" for resource, asked in missing.items())
            edit = ", ".join(resource.dashboard for resource in missing)
            return self._check("scopes", False, f"the key may not write {lacking}",
                               f"edit the restricted key at {KEYS_PAGE}: set {edit} to Write (or use the secret key)")
        if unknown:
            why = ", ".join(f"{resource.name} ({reason})" for resource, reason in unknown.items())
            return self._check("scopes", False, f"write access could not be probed for {why}",
                               "run pivot doctor again; if it persists, see https://status.stripe.com")
        return self._check("scopes", True, f"the key may write {names} (each probed by updating an object that "
                           "does not exist: 404, not 403)")

    def _api_version(self, account: httpx.Response) -> Check:
        served = account.headers.get("stripe-version")
        message = str(stripe_error(account).get("message") or "")
        if account.status_code == 400 and "version" in message.lower():
            return self._check("api version", False, f"Stripe refused the pinned API version {STRIPE_VERSION}",
                               "upgrade Pivot, or ask Stripe support about the version")
        if served == STRIPE_VERSION:
            return self._check("api version", True, f"Stripe served the pinned API version {STRIPE_VERSION}")
        if served is None:
            return self._check("api version", False, "Stripe's answer had no Stripe-Version header",
                               f"point the base URL at https://api.stripe.com (now {self.url})")
        return self._check("api version", False, f"Pivot pins {STRIPE_VERSION}, Stripe served {served}",
                           "make sure nothing between Pivot and Stripe rewrites the Stripe-Version header")

    def _clock(self, response: httpx.Response, received_at: float) -> Check:
        return self._clock_check(response.headers.get("date"), received_at)

    def _rate_limit(self, answers: Answers) -> Check:
        responses = [answers.account, *(a for a in answers.probes.values() if isinstance(a, httpx.Response))]
        limited = [r for r in responses if r is not None and r.status_code == 429]
        if limited:
            wait = retry_after_seconds(limited[0])
            after = f" (Retry-After {wait:g}s)" if wait is not None else ""
            return self._check("rate limit", False, f"Stripe is rate-limiting this key right now{after}",
                               "wait; if it persists, look for another client sharing the account's limit")
        budget = "100 requests/s (25/s per endpoint) in live mode" if self.key_kind().startswith("a live") \
            else "25 requests/s in test mode (100/s in live mode)"
        return self._check("rate limit", True, f"Stripe sends no quota headers; its default limit is {budget}; "
                           "Pivot retries a 429 with backoff")

    def _reachable(self, response: httpx.Response) -> Check:
        if response.status_code >= 500:
            return self._check("reachable", False, f"Stripe answered HTTP {response.status_code} at {self.url}",
                               "try again later; see https://status.stripe.com")
        return self._check("reachable", True, f"Stripe answered at {self.url}")

    # ------------------------------------------------------------------ setup

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Nothing to create on Stripe (so `dry_run` changes nothing): the key carriers are `exists`;
        a permission a restricted key lacks is a `manual` step naming it."""
        steps = [
            self._step("key carrier: Idempotency-Key header", "exists",
                       "nothing to create: Stripe keeps each key's saved answer for at least 24 hours"),
            self._step("key carrier: metadata[pivot_key] and metadata[pivot_send_key]", "exists",
                       "nothing to create: metadata needs no schema; Pivot finds objects by listing them"),
        ]
        answers = await self.probe()
        identity = self._credentials(answers.account) if answers.account is not None else None
        if identity is None or not identity.ok:
            reason = identity.detail if identity is not None else answers.unreachable or answers.no_credential
            steps.append(self._step("API key", "manual", f"{reason}; put a secret key, or a restricted key with "
                                    f"Write on {', '.join(r.dashboard for r in WRITTEN)}, in {self.credential_env}"))
            return steps
        missing, unknown = self.permission_gaps(answers)
        for resource in WRITTEN:
            if resource in missing:
                steps.append(self._step(f"permission {missing[resource]}", "manual",
                                        f"edit the restricted key at {KEYS_PAGE}: set {resource.dashboard} to Write "
                                        f"({resource.used_by})"))
            elif resource in unknown:
                steps.append(self._step(f"permission {resource.permission}", "manual",
                                        f"could not be probed ({unknown[resource]}): make sure the key may write "
                                        f"{resource.name}, and run pivot doctor"))
            else:
                steps.append(self._step(f"permission {resource.permission}", "exists",
                                        f"the key may write {resource.name}"))
        return steps
