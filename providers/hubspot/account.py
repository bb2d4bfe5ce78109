"""`pivot doctor` and `pivot setup` for a HubSpot account, through the client the sagas use.

HubSpot has no idempotency header. Pivot's key carriers are two custom properties on every object
type the catalog writes (contacts and deals: create_contact, create_deal, update_properties and
batch_create all take only those): `pivot_key`, a unique single-line text the keyed creates look
up with `idProperty`, and `pivot_undo`, a multi-line text holding an update's before-image. Without
them every create fails (`idProperty` must name a unique property) and every update fails
(PROPERTY_DOESNT_EXIST). `setup` creates them with the CRM properties API; that needs the
`crm.schemas.{type}.write` scopes, and when the token lacks them the step says how to create the
property by hand instead.

Doctor's calls: one `GET /crm/v3/objects/contacts?limit=1` (credentials, api version, the `Date`
clock, the `X-HubSpot-RateLimit-*` headroom, reachability), `POST /oauth/v2/private-apps/get/
access-token-info` (the token's scopes: the only place HubSpot lists them) and one
`GET /crm/v3/properties/{type}/{name}` per carrier. The details name the environment variable
holding the token, never its value.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.account_kit import AccountBase, Check, Probe, SetupStep
from pivot.providers.hubspot.actions.keyed import KEY_PROPERTY, SINGULAR, UNDO_PROPERTY
from pivot.providers.hubspot.client import AlreadyExists, HubSpotClient

OBJECT_TYPES: tuple[str, ...] = tuple(SINGULAR)
"""Every object type the catalog's HubSpot actions write (their params allow only these)."""
GROUPS: Mapping[str, str] = MappingProxyType({"contacts": "contactinformation", "deals": "dealinformation"})
"""The default property group of each object type: HubSpot requires one on every property."""
PROBE_PATH = "/crm/v3/objects/contacts"
MIN_HEADROOM = 0.1
"""Below this share of the ten-second or the daily allowance, sagas will be meeting 429s."""
PRIVATE_APPS = "HubSpot → Settings → Integrations → Private Apps → your app"


@dataclass(frozen=True)
class Carrier:
    """One property Pivot needs on every object type, as `setup` creates it."""

    name: str
    label: str
    field_type: str
    unique: bool
    why: str

    def definition(self, object_type: str) -> dict[str, Any]:
        """The body of `POST /crm/v3/properties/{objectType}`."""
        return {"name": self.name, "label": self.label, "type": "string", "fieldType": self.field_type,
                "groupName": GROUPS[object_type], "hasUniqueValue": self.unique, "formField": False,
                "description": f"Written by Pivot ({self.why}); do not edit."}

    def by_hand(self, object_type: str) -> str:
        kind = "Single-line text" if self.field_type == "text" else "Multi-line text"
        unique = ", and tick 'Require unique values for this property'" if self.unique else ""
        return (f"in HubSpot → Settings → Properties → {SINGULAR[object_type].capitalize()} properties → Create "
                f"property: label '{self.label}', internal name {self.name}, group {GROUPS[object_type]}, field "
                f"type {kind}{unique}")


CARRIERS = (
    Carrier(KEY_PROPERTY, "Pivot key", "text", True, "the saga step that created the record"),
    Carrier(UNDO_PROPERTY, "Pivot undo", "textarea", False, "what an update changed, so it can be undone"),
)
REQUIRED_SCOPES: Mapping[str, str] = MappingProxyType({
    **{f"crm.objects.{t}.read": f"read {t} back by id and by {KEY_PROPERTY}" for t in OBJECT_TYPES},
    **{f"crm.objects.{t}.write": f"create, update and archive {t}" for t in OBJECT_TYPES},
    **{f"crm.schemas.{t}.read": f"check the {t} key properties (pivot doctor)" for t in OBJECT_TYPES},
})
SETUP_SCOPES = tuple(f"crm.schemas.{t}.write" for t in OBJECT_TYPES)
"""Needed only by `pivot setup`, and only while a carrier is missing."""


@dataclass(frozen=True)
class Found:
    """One carrier on one object type as doctor found it: its definition, or the reason it is unknown."""

    object_type: str
    carrier: Carrier
    definition: dict[str, Any] | None
    error: ProviderRejected | ProviderUnavailable | None = None

    def problem(self) -> str:
        """'' when the property is right, else what is wrong with it."""
        where = f"{self.object_type} property {self.carrier.name}"
        if isinstance(self.error, ProviderRejected) and self.error.info.code == "missing_scopes":
            return f"{self.object_type} properties cannot be read (the token lacks {', '.join(scopes_of(self.error))})"
        if isinstance(self.error, ProviderRejected) and self.error.info.code == "unauthorized":
            return "not checked: HubSpot refused the token"
        if self.error is not None:
            return f"{where}: not checked ({message_of(self.error)})"
        if self.definition is None:
            return f"{where} is missing"
        if self.definition.get("type") != "string":
            return f"{where} has type {self.definition.get('type')}, not string"
        if self.carrier.unique and self.definition.get("hasUniqueValue") is not True:
            return f"{where} exists but does not require unique values"
        return ""


def message_of(error: ProviderRejected | ProviderUnavailable) -> str:
    return error.info.message if isinstance(error, ProviderRejected) else error.message


def scopes_of(error: ProviderRejected) -> list[str]:
    scopes = (error.info.detail or {}).get("scopes")
    return [str(s) for s in scopes] if isinstance(scopes, list) and scopes else ["a scope HubSpot did not name"]


def hubspot_body(response: httpx.Response) -> dict[str, Any] | None:
    """The body when it is a HubSpot API answer (a page of results, or HubSpot's error envelope)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return body if "results" in body or (body.get("status") == "error" and "category" in body) else None


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name, "")
    return int(value) if value.isdigit() else None


class HubSpotAccount(AccountBase):
    """A HubSpot account as `pivot setup` and `pivot doctor` see it."""

    provider = "hubspot"
    label = "HubSpot"

    def __init__(self, client: HubSpotClient, *, clock: Callable[[], float] = time.time) -> None:
        """`clock` is this host's time (seconds since the epoch): the clock check compares it with HubSpot's."""
        self.client = client
        self.clock = clock

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        """Every check. With no usable answer at all (no credential configured, HubSpot unreachable
        or rate-limiting right now) the one check that says why is all there is: the others could
        only repeat it."""
        probe = await self._probe()
        url = self.client.base_url()
        if probe.no_credential:
            return [self._check("credentials", False, probe.no_credential,
                                f"set {self.credential_env} to the private app's access token ({PRIVATE_APPS} → "
                                "Auth)")]
        if probe.unreachable:
            return [self._check("reachable", False, probe.unreachable,
                                f"check the network, and the base URL (PIVOT_HUBSPOT_BASE_URL or the connection's "
                                f"base_url, now {url}; HubSpot's is https://api.hubapi.com)")]
        if probe.rate_limited or probe.response is None:
            return [self._check("reachable", True, f"HubSpot answered at {url}"),
                    self._check("rate limit", False, f"HubSpot is rate-limiting this token right now: "
                                f"{probe.rate_limited}", "wait, or find what else spends this app's allowance "
                                f"({PRIVATE_APPS} → Logs shows the calls)")]
        response = probe.response
        body = hubspot_body(response)
        return [
            self._credentials(response, body),
            await self._scopes(),
            await self._key_carriers(),
            self._api_version(response, body, url),
            self._clock(response, probe.received_at),
            self._rate_limit(response, url),
            self._check("reachable", True, f"HubSpot answered at {url}"),
        ]

    async def _probe(self) -> Probe:
        return await self._probe_with(self.client.probe, rate_limits=True)

    def _credentials(self, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        status = response.status_code
        if status < 300 or (status == 403 and body is not None):  # a 403 is a scope, not the token
            return self._check("credentials", True, f"HubSpot accepted the token in {self.credential_env}")
        message = str((body or {}).get("message", "")).split(". ")[0]
        if status == 401:
            return self._check("credentials", False,
                               f"HubSpot refused the token in {self.credential_env} (401 "
                               f"{(body or {}).get('category', '')}: {message})",
                               f"copy the private app's access token ({PRIVATE_APPS} → Auth → Show token; rotate "
                               f"it if it was revoked) into {self.credential_env}")
        return self._check("credentials", False, f"GET {PROBE_PATH} answered HTTP {status}: {message or 'no detail'}",
                           "run pivot doctor again; if it persists, see https://status.hubspot.com")

    async def _scopes(self) -> Check:
        try:
            info = await self.client.token_info()
        except ProviderRejected as refused:
            if refused.info.code == "unauthorized":
                return self._check("scopes", False, "not checked: HubSpot refused the token",
                                   "fix the credentials first")
            return self._check("scopes", False, f"HubSpot did not list the token's scopes ({refused.info.message})",
                               f"Pivot reads the scopes of a private-app token; make sure {self.credential_env} "
                               f"holds one whose app has {', '.join(REQUIRED_SCOPES)}")
        except ProviderUnavailable as down:
            return self._check("scopes", False, f"not checked: {down.message}", "run pivot doctor again")
        granted = [str(s) for s in info.get("scopes") or []]
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        no_setup = [scope for scope in SETUP_SCOPES if scope not in granted]
        note = (f"; not granted: {', '.join(no_setup)} (pivot setup needs them only to create a missing key "
                "property)") if no_setup else ""
        if missing:
            needs = "; ".join(f"{scope} ({REQUIRED_SCOPES[scope]})" for scope in missing)
            return self._check("scopes", False, f"the token lacks {needs}{note}",
                               f"add {', '.join(missing)} in {PRIVATE_APPS} → Scopes and commit the change (the "
                               "token stays the same)")
        return self._check("scopes", True, f"granted: {', '.join(REQUIRED_SCOPES)}{note}")

    async def _found(self) -> list[Found]:
        found = []
        for object_type in OBJECT_TYPES:
            for carrier in CARRIERS:
                try:
                    definition = await self.client.get_property(object_type, carrier.name)
                except (ProviderRejected, ProviderUnavailable) as error:
                    found.append(Found(object_type, carrier, None, error))
                else:
                    found.append(Found(object_type, carrier, definition))
        return found

    async def _key_carriers(self) -> Check:
        found = await self._found()
        problems = list(dict.fromkeys(item.problem() for item in found if item.problem()))  # one line per cause
        if not problems:
            names = " and ".join(f"{c.name}{' (unique)' if c.unique else ''}" for c in CARRIERS)
            return self._check("key carriers", True, f"{names} exist on {', '.join(OBJECT_TYPES)}")
        fixes = []
        if any(item.definition is None and item.error is None for item in found):
            fixes.append("run `pivot setup hubspot` to create the missing properties")
        if any(item.definition is not None and item.problem() for item in found):
            fixes.append("HubSpot cannot turn an existing property into a unique single-line text: while no saga "
                         "is running, delete it in HubSpot → Settings → Properties and run `pivot setup hubspot`")
        if any(isinstance(item.error, ProviderRejected) and item.error.info.code == "missing_scopes" for item in found):
            fixes.append(f"add the crm.schemas.*.read scopes named above in {PRIVATE_APPS} → Scopes")
        if any(isinstance(item.error, ProviderUnavailable) for item in found):
            fixes.append("run pivot doctor again")
        return self._check("key carriers", False, "; ".join(problems), "; ".join(fixes) or "fix the credentials first")

    def _api_version(self, response: httpx.Response, body: dict[str, Any] | None, url: str) -> Check:
        if body is None or response.status_code in (404, 405):
            return self._check("api version", False,
                               f"GET {PROBE_PATH} at {url} did not answer like HubSpot's CRM v3 API (HTTP "
                               f"{response.status_code})",
                               f"point the base URL at https://api.hubapi.com (now {url})")
        return self._check("api version", True, f"the CRM v3 endpoints answer (GET {PROBE_PATH}: HTTP "
                           f"{response.status_code})")

    def _clock(self, response: httpx.Response, received_at: float) -> Check:
        return self._clock_check(response.headers.get("date"), received_at)

    def _rate_limit(self, response: httpx.Response, url: str) -> Check:
        headers = response.headers
        window_max = _int_header(headers, "x-hubspot-ratelimit-max")
        window_left = _int_header(headers, "x-hubspot-ratelimit-remaining")
        daily_max = _int_header(headers, "x-hubspot-ratelimit-daily")
        daily_left = _int_header(headers, "x-hubspot-ratelimit-daily-remaining")
        if window_max is None or window_left is None:
            return self._check("rate limit", False, "HubSpot's answer had no X-HubSpot-RateLimit-* headers: the "
                               "headroom is unknown", f"check that {url} is HubSpot's API and that no proxy "
                               "strips its headers")
        interval = _int_header(headers, "x-hubspot-ratelimit-interval-milliseconds") or 10_000
        detail = f"{window_left} of {window_max} requests left in the {interval / 1000:g}s window"
        low = window_left < window_max * MIN_HEADROOM
        if daily_max and daily_left is not None:
            detail += f", {daily_left} of {daily_max} today"
            low = low or daily_left < daily_max * MIN_HEADROOM
        if low:
            return self._check("rate limit", False, f"little headroom: {detail}",
                               "find what else spends this account's API allowance (HubSpot → Settings → "
                               "Integrations → Private Apps → Logs), or raise the limit with HubSpot's API add-on")
        return self._check("rate limit", True, detail)

    # ------------------------------------------------------------------ setup

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Each carrier on each object type: found in place, created, or (no scope to create it, or a
        property of the same name that is not what Pivot needs) left to a person with instructions.
        Failures that leave nothing to do (no credential, HubSpot unreachable) raise."""
        return [await self._setup_one(object_type, carrier, dry_run=dry_run)
                for object_type in OBJECT_TYPES for carrier in CARRIERS]

    async def _setup_one(self, object_type: str, carrier: Carrier, *, dry_run: bool) -> SetupStep:
        what = f"{object_type} property {carrier.name}"
        try:
            existing = await self.client.get_property(object_type, carrier.name)
        except ProviderRejected as refused:
            if refused.info.code != "missing_scopes":
                raise
            return self._step(what, "manual", f"the token cannot read {object_type} properties (it lacks "
                              f"{', '.join(scopes_of(refused))}): add the scope in {PRIVATE_APPS} → Scopes and run "
                              f"setup again, or check by hand that the property exists, {carrier.by_hand(object_type)}")
        if existing is not None:
            problem = Found(object_type, carrier, existing).problem()
            if problem:
                return self._step(what, "manual", f"{problem}: while no saga is running, delete it in HubSpot → "
                                  "Settings → Properties and run setup again")
            return self._step(what, "exists", "unique single-line text" if carrier.unique else "multi-line text")
        definition = carrier.definition(object_type)
        if dry_run:
            return self._step(what, "would create", f"POST /crm/v3/properties/{object_type}: type string, fieldType "
                              f"{carrier.field_type}, group {definition['groupName']}, hasUniqueValue {carrier.unique}")
        try:
            await self.client.create_property(object_type, definition)
        except AlreadyExists:
            return self._step(what, "exists", "created meanwhile by someone else")
        except ProviderRejected as refused:
            if refused.info.code != "missing_scopes":
                raise
            return self._step(what, "manual", f"the token may not create properties (it lacks "
                              f"{', '.join(scopes_of(refused))}): add the scope in {PRIVATE_APPS} → Scopes and run "
                              f"setup again, or create it by hand, {carrier.by_hand(object_type)}")
        return self._step(what, "created", "unique single-line text" if carrier.unique else "multi-line text")
