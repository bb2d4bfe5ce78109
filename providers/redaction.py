"""Credentials out of every provider message Pivot stores or prints.

A provider's error body may echo the credential it was sent (Stripe's "Invalid API Key provided:
sk_test_…"), and whatever a step raises becomes part of the outcome: the Restate journal, the
saga's state, the log and the terminal, for good. So every provider message is passed through
`redact` before it is stored, and the CLI redacts again before it prints.

Two nets, because each misses what the other catches:
- the credentials this process is configured with (provider variables, named connections,
  approver tokens), found by value wherever they appear, whatever their shape;
- token-shaped strings (Stripe, Slack, HubSpot, Shopify, Resend, Salesforce session ids, Bearer/Basic
  values, JWTs), so a key this process does not hold (another account's, a leaked one) is not
  stored either.

Cheap by construction: the patterns are compiled once, the configured values are a few
environment reads per call (credentials can rotate, so they are not cached).
"""

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from pivot.compensations.actions import Action, CompensationReport, JsonDict
from pivot.compensations.approvals import parse_approver_tokens
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.providers import connections

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""Shorter configured values are not searched for: redacting every "test" in a message would
hide more than it protects (no real credential is that short)."""

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)$")
"""Environment variables that hold a credential by convention (STRIPE_API_KEY, SLACK_BOT_TOKEN,
PIVOT_APPROVER_TOKEN, PIVOT_CONNECTION__STRIPE__EU__CREDENTIAL, …)."""
_CREDENTIAL_ENV = re.compile(r"^PIVOT_[A-Z0-9]+_CREDENTIAL_ENV$")
"""`PIVOT_<PROVIDER>_CREDENTIAL_ENV` names the variable that holds a provider's credential."""
APPROVERS_ENV = "PIVOT_APPROVERS"

_TOKEN_SHAPES = re.compile("|".join(f"(?:{shape})" for shape in (
    # Each shape's one group is a prefix that says what kind of token it was: it is kept, the rest replaced.
    r"\b((?:sk|rk|pk)_(?:live|test)_|whsec_)[0-9A-Za-z_]{6,}",  # Stripe secret / restricted / publishable / webhook
    r"\b(xox[abpers]-|xoxe\.xox[bp]-|xapp-)[0-9A-Za-z-]{6,}",  # Slack bot, user, app, refresh tokens
    r"\b(pat-)[0-9A-Za-z-]{10,}",  # HubSpot private app tokens (pat-na1-…)
    r"\b(shp(?:at|ca|pa|ss)_)[0-9A-Za-z_]{6,}",  # Shopify access / custom app / private app / shared secret
    r"\b(re_)[0-9A-Za-z]{4,}_[0-9A-Za-z_]{8,}",  # Resend API keys (re_<id>_<secret>; not Stripe's refund ids re_…)
    r"\b(00D[0-9A-Za-z]{3,15}!)[0-9A-Za-z._-]{8,}",  # Salesforce session id: org id "!" secret
    r"\b((?i:bearer|basic)\s+)[0-9A-Za-z._~+/=-]{8,}",  # an Authorization header's value
    r"\b()eyJ[0-9A-Za-z_-]{5,}\.[0-9A-Za-z_-]{5,}\.[0-9A-Za-z_-]*",  # a JWT (header.payload.signature)
)))
"""One pattern, so a message is scanned once however many shapes there are."""


def _kept_prefix(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None) + REDACTED


def configured_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every credential value this process is configured with, longest first (so a secret that
    contains another is replaced whole)."""
    env = dict(os.environ if environ is None else environ)  # one snapshot: os.environ decodes on every read
    names = {name for name in env if _SECRET_NAME.search(name)}
    names |= {env[name] for name in env if _CREDENTIAL_ENV.match(name)}
    values = {env.get(name, "") for name in names}
    values |= set(parse_approver_tokens(env.get(APPROVERS_ENV, "")).values())
    values |= set(_connection_credentials(env))
    values |= {secret for name in env if name.endswith("_DSN") for secret in _dsn_secrets(env[name])}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _dsn_secrets(dsn: str) -> Iterable[str]:
    """A database DSN (`PIVOT_POSTGRES_DSN`) and the password inside it (URL or key=value form)."""
    from urllib.parse import unquote, urlsplit

    yield dsn
    if "://" in dsn:
        with contextlib.suppress(ValueError):
            if urlsplit(dsn).password:
                yield unquote(urlsplit(dsn).password or "")
    yield from re.findall(r"(?:^|\s)password\s*=\s*'?([^'\s]+)", dsn)


def _connection_credentials(env: Mapping[str, str]) -> Iterable[str]:
    try:
        table = connections.load(env)
    except connections.ConnectionsError:
        return  # a broken file is reported where connections are used; redaction must never fail
    for named in table.values():
        for spec in named.values():
            if spec.credential is not None:
                yield spec.credential.get_secret_value()
            elif spec.credential_env:
                yield env.get(spec.credential_env, "")


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every configured credential (and the `extra` values) and every token-shaped
    string replaced by "[redacted]"."""
    for secret in (*extra, *configured_secrets()):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(_kept_prefix, text)


def redact_data(value: Any) -> Any:
    """`redact` applied to every string inside a JSON-like value (an error's detail)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


def redact_error(exc: Exception) -> None:
    """Redact an error in place: its type, and so what it means to the engine, stays the same."""
    if isinstance(exc, ProviderRejected):
        exc.info = exc.info.model_copy(update={"message": redact(exc.info.message),
                                               "detail": redact_data(exc.info.detail)})
        exc.args = (exc.info.message,)
    elif isinstance(exc, ProviderUnavailable):
        exc.message = redact(exc.message)
        exc.args = (exc.message,)
    else:  # a bug's exception may quote a response body too; the SDK logs it and Restate keeps it
        exc.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in exc.args)


def redacting(action: Action) -> Action:
    """`action` with everything its provider code reports redacted before the engine stores it: the
    errors its write and its undo raise, and the undo's report."""
    forward, compensate = action.forward, action.compensate

    async def redacted_forward(params: Any, keys: StepKeys) -> JsonDict:
        try:
            return await forward(params, keys)
        except Exception as exc:
            redact_error(exc)
            raise

    async def redacted_compensate(params: Any, keys: StepKeys, result: JsonDict | None) -> CompensationReport:
        assert compensate is not None
        try:
            report = await compensate(params, keys, result)
        except Exception as exc:
            redact_error(exc)
            raise
        return report.model_copy(update={"detail": redact(report.detail)})

    return replace(action, forward=redacted_forward, compensate=redacted_compensate if compensate else None)
