"""Which credentials each sandbox accepts: the local stack's fakes, or the ones it is given.

A real provider refuses every credential it did not issue. A sandbox that accepted anything made
`pivot doctor` green with `STRIPE_API_KEY=sk_test_wrong`, so nothing showed that doctor catches the
one mistake it exists for. Each sandbox therefore accepts exactly:

- the credentials listed, comma-separated, in `PIVOT_SANDBOX_<PROVIDER>_CREDENTIALS` when that is
  set (several, because one sandbox may stand for an account several clients reach with keys of
  their own; an empty list is refused at start, since a sandbox nobody can call is a mistake);
- otherwise its `LOCAL_CREDENTIALS` entry: the fake the local stack hands the service, so
  `docker compose up` and a bare `python -m pivot.providers.serve_sandboxes` work with the documented
  values;
- and, on top, whatever a test registers at `/_sandbox/tokens` (`tokens.TokenBook`).

The list travels in the environment, not on the command line, because any user of the host can
read a process's arguments. It has a variable of its own, not the service's `STRIPE_API_KEY`, so
that a shell holding a real key never makes a local fake accept it. These are test credentials:
the sandboxes never print or log them.

A sandbox that calls the app back (Slack's interactivity requests) also signs what it sends, with the
app's signing secret: `PIVOT_SANDBOX_<PROVIDER>_SIGNING_SECRET` when set (an empty value is refused at
start, like an empty credential list), otherwise its `LOCAL_SIGNING_SECRETS` entry, the fake the local
stack hands the service so the service can verify those requests.
"""

from collections.abc import Iterable, Mapping
from types import MappingProxyType

LOCAL_CREDENTIALS: Mapping[str, str] = MappingProxyType({
    "stripe": "sk_test_pivotlocal_4eC39HqLyjWDarjtT1zdp7dc",
    "hubspot": "pat-local-pivot-0b2f6c1e-hubspot",
    "slack": "xoxb-pivot-local-slack-token",
    "salesforce": "00Dlocal!pivot-local-salesforce-token",
    "shopify": "shpat_pivotlocal_shopify_token",
    "resend": "re_pivotlocal_resend_key_9f2c",
})
"""Each sandbox's credential when it is given none: recognisable fakes (the security tests search
journals and logs for them)."""


LOCAL_SIGNING_SECRETS: Mapping[str, str] = MappingProxyType({
    "slack": "pivotlocal5ec7e75ac1c5161f9d0bb8e3",
})
"""Each calling-back sandbox's signing secret when it is given none: a recognisable fake, 32 characters
like Slack's."""


class NoCredentials(ValueError):
    """The variable is set but lists no credential."""


def credentials_variable(provider: str) -> str:
    """The variable that lists what `provider`'s sandbox accepts: PIVOT_SANDBOX_STRIPE_CREDENTIALS."""
    return f"PIVOT_SANDBOX_{provider.upper()}_CREDENTIALS"


def accepted_credentials(provider: str, environ: Mapping[str, str]) -> frozenset[str]:
    """What `provider`'s sandbox accepts under `environ` (see the module docstring)."""
    variable = credentials_variable(provider)
    listed = environ.get(variable)
    if listed is None:
        return frozenset({LOCAL_CREDENTIALS[provider]})
    accepted = frozenset(part.strip() for part in listed.split(",") if part.strip())
    if not accepted:
        raise NoCredentials(f"{variable} is set but lists no credential")
    return accepted


def credentials_environment(accepted: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """The variables that make a sandboxes process accept exactly `accepted` (provider -> credentials)."""
    return {credentials_variable(provider): ",".join(credentials) for provider, credentials in accepted.items()}


def signing_secret_variable(provider: str) -> str:
    """The variable that sets what `provider`'s sandbox signs with: PIVOT_SANDBOX_SLACK_SIGNING_SECRET."""
    return f"PIVOT_SANDBOX_{provider.upper()}_SIGNING_SECRET"


def signing_secret(provider: str, environ: Mapping[str, str]) -> str:
    """The secret `provider`'s sandbox signs its callbacks with under `environ` (see the module docstring)."""
    variable = signing_secret_variable(provider)
    value = environ.get(variable)
    if value is None:
        return LOCAL_SIGNING_SECRETS[provider]
    if not value.strip():
        raise NoCredentials(f"{variable} is set but empty")
    return value.strip()
