"""`pivot doctor` and `pivot setup` for a Salesforce org, through the client the sagas use.

Salesforce has no idempotency header on `/sobjects`: Pivot's key carrier is a custom field,
`Pivot_Key__c` (Text(255), External ID, Unique), on every sObject the catalog writes. The actions
take the sObject as a parameter, so the list to cover is configuration (`pivot setup salesforce
--sobjects …`; by default Account, Contact and Opportunity). Without the field, create_record and
create_records_atomic fail at their first lookup.

`setup` creates a missing field with the Tooling API. A field created that way is visible to no
profile until an admin grants field-level security, and granting a profile access is a security
decision for the org's admin (the integration user rarely may make it), so that part is a
"manual" step naming the exact place in Setup.

Doctor's calls: `GET /services/data/vXX.X/` (credentials, the `Date` clock, the `Sforce-Limit-Info`
usage, reachability), `GET /services/data/` (the API versions: Pivot's must be listed) and one
`GET sobjects/{S}/describe` per sObject (object permissions and the key field as the integration
user sees them). The details name the environment variable holding the token, never its value.
"""

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.account_kit import AccountBase, Check, Probe, SetupState, SetupStep
from pivot.providers.salesforce.client import API_BASE, API_VERSION, SalesforceClient, parse_errors
from pivot.providers.salesforce.params import API_NAME, DEFAULT_KEY_FIELD

DEFAULT_SOBJECTS = ("Account", "Contact", "Opportunity")
KEY_LENGTH = 255
"""The longest external id the actions write (params.EXTERNAL_ID_VALUE)."""
MAX_USAGE = 0.9
"""Beyond this share of the org's daily API requests, sagas will be meeting REQUEST_LIMIT_EXCEEDED."""
PERMISSIONS = (("Read", "retrieveable", "read records back and look them up by key"),
               ("Create", "createable", "create and upsert records"),
               ("Edit", "updateable", "update and upsert records"),
               ("Delete", "deletable", "undo a create (delete to the Recycle Bin)"))
"""Object permissions the catalog's actions need, with the describe flag that shows each."""
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def key_field_metadata() -> dict[str, Any]:
    """The Tooling API `Metadata` of Pivot_Key__c."""
    return {"type": "Text", "length": KEY_LENGTH, "externalId": True, "unique": True, "caseSensitive": False,
            "required": False, "label": "Pivot Key",
            "description": "Written by Pivot: the saga step that created the record. Do not edit."}


def by_hand(sobject: str) -> str:
    return (f"Setup → Object Manager → {sobject} → Fields & Relationships → New → Text; Field Label 'Pivot Key', "
            f"Length {KEY_LENGTH}, Field Name 'Pivot_Key'; tick 'Do not allow duplicate values' (Unique, "
            "case-insensitive) and 'Set this field as the unique record identifier from an external system' "
            "(External ID); on the next page make it Visible (not Read-Only) for the integration user's profile")


def field_security(sobject: str) -> str:
    return (f"Setup → Object Manager → {sobject} → Fields & Relationships → Pivot Key → Set Field-Level Security: "
            "tick Visible, leave Read-Only unticked, for the integration user's profile (or grant Read and Edit on "
            f"{sobject}.{DEFAULT_KEY_FIELD} in a permission set assigned to that user)")


def object_permissions(sobject: str, missing: Iterable[str]) -> str:
    return (f"grant {', '.join(missing)} on {sobject} to the integration user: Setup → Permission Sets → (a set "
            f"assigned to that user) → Object Settings → {sobject} → Edit")


@dataclass(frozen=True)
class Described:
    """One sObject's describe as the integration user sees it, or why there is none."""

    sobject: str
    describe: dict[str, Any] | None
    error: ProviderRejected | ProviderUnavailable | None = None
    hidden: bool | None = None
    """When describe shows no key field: whether the Tooling API knows it (hidden by field-level
    security) or not (missing); None when not asked, or when the Tooling API refused to say."""
    lookup_error: str = ""

    def key_field(self) -> dict[str, Any] | None:
        fields = (self.describe or {}).get("fields") or []
        return next((f for f in fields if isinstance(f, dict)
                     and str(f.get("name", "")).lower() == DEFAULT_KEY_FIELD.lower()), None)

    def unavailable(self) -> str:
        """Why the describe says nothing ('' when it does)."""
        if isinstance(self.error, ProviderRejected):
            if self.error.info.code == "unauthorized":
                return "not checked: Salesforce refused the token"
            if self.error.info.code == "api_disabled_for_org":
                return "the integration user may not use the API (API_DISABLED_FOR_ORG)"
            return f"{self.sobject}: not checked ({self.error.info.message})"
        if isinstance(self.error, ProviderUnavailable):
            return f"{self.sobject}: not checked ({self.error.message})"
        if self.describe is None:
            return f"{self.sobject} does not exist for the integration user (no Read permission, or no such sObject)"
        return ""

    def missing_permissions(self) -> list[str]:
        return [name for name, flag, _ in PERMISSIONS if (self.describe or {}).get(flag) is not True]

    def key_problem(self) -> str:
        """'' when Pivot_Key__c is right, else what is wrong with it."""
        where = f"{self.sobject}.{DEFAULT_KEY_FIELD}"
        found = self.key_field()
        if found is None:
            if self.hidden is True:
                return f"{where} exists, but field-level security hides it from the integration user"
            if self.hidden is False:
                return f"{where} is missing"
            return f"{where} is missing, or hidden from the integration user by field-level security"
        if found.get("type") != "string" or found.get("externalId") is not True or found.get("unique") is not True:
            return (f"{where} exists but is not a Text field marked External ID and Unique (type {found.get('type')}, "
                    f"externalId {found.get('externalId')}, unique {found.get('unique')})")
        describe = self.describe or {}
        if (describe.get("createable") and not found.get("createable")) or (
                describe.get("updateable") and not found.get("updateable")):
            return f"{where} is read-only for the integration user (field-level security)"
        return ""


def first_error(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, message) of Salesforce's error array, or ('', '') when the body is not one."""
    try:
        errors = parse_errors(response.json())
    except ValueError:
        return "", ""
    return (errors[0].code, errors[0].message) if errors else ("", "")


class SalesforceAccount(AccountBase):
    """A Salesforce org as `pivot setup` and `pivot doctor` see it, for the sObjects the catalog writes."""

    provider = "salesforce"
    label = "Salesforce"

    def __init__(self, client: SalesforceClient, sobjects: Sequence[str] = DEFAULT_SOBJECTS, *,
                 clock: Callable[[], float] = time.time) -> None:
        """`sobjects`: the sObjects the plans write (API names). `clock`: this host's time, which the
        clock check compares with Salesforce's."""
        bad = [name for name in sobjects if not re.fullmatch(API_NAME, name)]
        if bad or not sobjects:
            raise ValueError(f"not sObject API names: {', '.join(bad) or '(none given)'}")
        self.client = client
        self.sobjects = tuple(dict.fromkeys(sobjects))
        self.clock = clock

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        """Every check. With no answer at all (no credential configured, or the org unreachable) the
        one check that says why is all there is: the others could only repeat it."""
        probe = await self._probe()
        url = self.client.base_url()
        if probe.no_credential:
            return [self._check("credentials", False, probe.no_credential,
                                f"set {self.credential_env} to an access token of the integration user")]
        if probe.unreachable or probe.response is None:
            return [self._check("reachable", False, probe.unreachable,
                                "check the network, and the base URL (PIVOT_SALESFORCE_BASE_URL or the "
                                f"connection's base_url, now {url}; the org's is https://<MyDomain>.my.salesforce.com)")]
        response = probe.response
        described = await self._describe_all()
        return [
            self._credentials(response),
            self._permissions(described),
            self._key_carriers(described),
            await self._api_version(url),
            self._clock(response, probe.received_at),
            self._rate_limit(response, url),
            self._check("reachable", True, f"Salesforce answered at {url}"),
        ]

    async def _probe(self) -> Probe:
        return await self._probe_with(self.client.resources)

    async def _described(self, sobject: str) -> Described:
        """The describe, and when it shows no key field, whether the Tooling API knows one."""
        item = Described(sobject, await self.client.describe(sobject))
        if item.describe is None or item.key_field() is not None:
            return item
        try:
            found = await self.client.custom_fields(sobject, DEFAULT_KEY_FIELD.removesuffix("__c"))
        except ProviderRejected as refused:
            if refused.info.code == "unauthorized":
                raise
            return replace(item, lookup_error=refused.info.message)
        return replace(item, hidden=bool(found))

    async def _describe_all(self) -> list[Described]:
        described = []
        for sobject in self.sobjects:
            try:
                described.append(await self._described(sobject))
            except (ProviderRejected, ProviderUnavailable) as error:
                described.append(Described(sobject, None, error))
        return described

    def _credentials(self, response: httpx.Response) -> Check:
        status = response.status_code
        code, message = first_error(response)
        if status < 300 or code == "API_DISABLED_FOR_ORG":  # the token is good; its user lacks a permission
            return self._check("credentials", True, f"Salesforce accepted the token in {self.credential_env}")
        if status == 401:
            return self._check("credentials", False,
                               f"Salesforce refused the token in {self.credential_env} (401 {code}: {message})",
                               f"get a new access token for the integration user (run the connected app's OAuth flow "
                               f"again, or refresh it: tokens end with the session timeout or a revoke) and put it "
                               f"in {self.credential_env}")
        return self._check("credentials", False, f"GET {API_BASE}/ answered HTTP {status} ({code or 'no error code'}"
                           f"{': ' + message if message else ''})", "see the api version check; if it passes, run "
                           "pivot doctor again or see https://status.salesforce.com")

    def _permissions(self, described: list[Described]) -> Check:
        problems: list[str] = []
        fixes: list[str] = []
        for item in described:
            reason = item.unavailable()
            if reason:
                problems.append(reason)
                if item.describe is None and item.error is None:
                    fixes.append(object_permissions(item.sobject, [p for p, _, _ in PERMISSIONS]) + " (and check "
                                 "the sObject's API name)")
                continue
            missing = item.missing_permissions()
            if missing:
                needs = "; ".join(f"{p}: {why}" for p, _, why in PERMISSIONS if p in missing)
                problems.append(f"{item.sobject}: the integration user lacks {', '.join(missing)} ({needs})")
                fixes.append(object_permissions(item.sobject, missing))
        problems = list(dict.fromkeys(problems))
        if not problems:
            return self._check("scopes", True, "the integration user may read, create, edit and delete "
                               f"{', '.join(self.sobjects)}")
        if any(isinstance(i.error, ProviderRejected) and i.error.info.code == "api_disabled_for_org"
               for i in described):
            fixes.insert(0, "give the integration user the 'API Enabled' system permission (Setup → Permission Sets "
                         "→ System Permissions)")
        return self._check("scopes", False, "; ".join(problems),
                           "; ".join(dict.fromkeys(fixes)) or "fix the credentials first")

    def _key_carriers(self, described: list[Described]) -> Check:
        problems: list[str] = []
        for item in described:
            problems.append(item.unavailable() or item.key_problem())
        problems = list(dict.fromkeys(p for p in problems if p))
        if not problems:
            return self._check("key carriers", True, f"{DEFAULT_KEY_FIELD} (External ID, Unique) on "
                               f"{', '.join(self.sobjects)}")
        fixes = []
        for item in described:
            problem = "" if item.unavailable() else item.key_problem()
            if "is missing" in problem:
                fixes.append(f"run `pivot setup salesforce --sobjects {','.join(self.sobjects)}` (it creates the "
                             "field, or says how to make a hidden one visible)")
            elif "read-only" in problem or "hides it" in problem:
                fixes.append(field_security(item.sobject))
            elif problem:
                fixes.append(f"Setup → Object Manager → {item.sobject} → Fields & Relationships → Pivot Key → Edit: "
                             "make it Text, tick Unique and External ID")
            elif isinstance(item.error, ProviderRejected) and item.error.info.code == "unauthorized":
                fixes.append("fix the credentials first")
            elif item.unavailable():
                fixes.append("fix what the scopes check names first")
        return self._check("key carriers", False, "; ".join(problems), "; ".join(dict.fromkeys(fixes)))

    async def _api_version(self, url: str) -> Check:
        fix = f"point the base URL at the org's My Domain, https://<MyDomain>.my.salesforce.com (now {url})"
        try:
            response = await self.client.versions()
        except ProviderUnavailable as down:
            return self._check("api version", False, f"not checked: {down.message}", "run pivot doctor again")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, list):
            return self._check("api version", False,
                               f"GET /services/data/ at {url} did not list API versions (HTTP {response.status_code})",
                               fix)
        served = [str(v.get("version")) for v in body if isinstance(v, dict)]
        wanted = API_VERSION.removeprefix("v")
        if wanted not in served:
            span = f"{served[0]} to {served[-1]}" if served else "none"
            return self._check("api version", False, f"the org does not serve {API_VERSION} (it serves {span})",
                               f"Pivot speaks Salesforce API {API_VERSION}: use a Pivot release that speaks one of "
                               "the org's versions")
        return self._check("api version", True, f"{API_VERSION} is served (newest: v{served[-1]})")

    def _clock(self, response: httpx.Response, received_at: float) -> Check:
        return self._clock_check(response.headers.get("date"), received_at)

    def _rate_limit(self, response: httpx.Response, url: str) -> Check:
        match = _USAGE.search(response.headers.get("sforce-limit-info", ""))
        if match is None:
            if response.status_code == 401:
                return self._check("rate limit", False, "not checked: Salesforce refused the token",
                                   "fix the credentials first")
            return self._check("rate limit", False, "Salesforce's answer had no Sforce-Limit-Info header: the "
                               "org's API usage is unknown", f"check that {url} is the org's API and that no proxy "
                               "strips its headers")
        used, limit = int(match.group(1)), int(match.group(2))
        detail = f"{used} of {limit} API requests used in the last 24 hours"
        if limit == 0 or used >= limit * MAX_USAGE:
            return self._check("rate limit", False, f"little headroom: {detail}",
                               "find what else spends the org's API requests (Setup → System Overview, or the "
                               "API Usage report), or buy more with Salesforce; the window rolls over 24 hours")
        return self._check("rate limit", True, detail)

    # ------------------------------------------------------------------ setup

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Pivot_Key__c on each sObject: found in place, created, or left to a person with instructions
        (field-level security, a field of that name that is not what Pivot needs, an sObject the user
        cannot see, a refused create). Failures that leave nothing to do (no credential, a refused
        token, the org unreachable) raise."""
        steps: list[SetupStep] = []
        for sobject in self.sobjects:
            steps += await self._setup_one(sobject, dry_run=dry_run)
        return steps

    async def _setup_one(self, sobject: str, *, dry_run: bool) -> list[SetupStep]:
        what = f"{sobject} field {DEFAULT_KEY_FIELD}"
        security = f"{sobject} field-level security of {DEFAULT_KEY_FIELD}"
        described = await self._described(sobject)
        if described.describe is None:
            return [self._step(what, "manual", f"{described.unavailable()}: "
                               f"{object_permissions(sobject, [p for p, _, _ in PERMISSIONS])}, then run setup again")]
        problem = described.key_problem()
        if not problem:
            return [self._step(what, "exists", f"Text({KEY_LENGTH}), External ID, Unique")]
        if "read-only" in problem or described.hidden is True:
            return [self._step(what, "exists", "the integration user cannot see it" if described.hidden
                               else "read-only for the integration user"),
                    self._step(security, "manual", field_security(sobject))]
        if described.key_field() is not None:
            return [self._step(what, "manual", f"{problem}: Setup → Object Manager → {sobject} → Fields & "
                               "Relationships → Pivot Key → Edit: make it Text, tick Unique and External ID")]
        if described.hidden is None:
            return [self._step(what, "manual", f"the Tooling API refused to look for it ({described.lookup_error}); "
                               f"create it by hand if it is missing: {by_hand(sobject)}")]
        if dry_run:
            return [self._step(what, "would create", f"POST {API_BASE}/tooling/sobjects/CustomField: FullName "
                               f"{sobject}.{DEFAULT_KEY_FIELD}, Text({KEY_LENGTH}), External ID, Unique"),
                    self._step(security, "manual", f"once it is created: {field_security(sobject)}")]
        state: SetupState = "created"
        try:
            await self.client.create_custom_field(f"{sobject}.{DEFAULT_KEY_FIELD}", key_field_metadata())
        except ProviderRejected as refused:
            if refused.info.code == "unauthorized":
                raise
            if refused.info.code not in ("duplicate_value", "duplicate_developer_name"):
                return [self._step(what, "manual", f"Salesforce refused to create it ({refused.info.message}); "
                                   f"create it by hand: {by_hand(sobject)}")]
            state = "exists"  # created meanwhile by someone else
        steps = [self._step(what, state, f"Text({KEY_LENGTH}), External ID, Unique")]
        if (await self._described(sobject)).key_problem():  # a new field is visible to no profile yet
            steps.append(self._step(security, "manual", field_security(sobject)))
        return steps
