"""The catalog this deployment serves: every provider's actions, bound to their endpoints.

Endpoints come from the environment (`PIVOT_<PROVIDER>_BASE_URL`); the local stack points them
at the sandboxes, production leaves them at the real APIs. Named connections (other accounts of
a provider) come from `PIVOT_CONNECTIONS_FILE` or the environment (providers/connections.py):
the catalog knows their names, so a step naming an unknown one is refused before anything runs.
Approvers likewise: the catalog knows the names in `PIVOT_APPROVERS` (never their tokens), so a
gate naming anyone else is refused instead of parking a saga that nobody could ever release.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from pivot.compensations.actions import Action, Catalog, RetryBudget
from pivot.compensations.approvals import parse_approver_tokens
from pivot.providers import connections
from pivot.providers.http import Endpoint
from pivot.providers.hubspot.actions import hubspot_actions
from pivot.providers.hubspot.client import HUBSPOT_API, HubSpotClient
from pivot.providers.postgres.actions import postgres_actions
from pivot.providers.postgres.client import PostgresClient
from pivot.providers.redaction import APPROVERS_ENV, redacting
from pivot.providers.resend.actions import resend_actions
from pivot.providers.resend.client import RESEND_API, ResendClient
from pivot.providers.salesforce.actions import salesforce_actions
from pivot.providers.salesforce.client import SALESFORCE_API, SalesforceClient
from pivot.providers.shopify.actions import shopify_actions
from pivot.providers.shopify.client import SHOPIFY_API, ShopifyClient
from pivot.providers.slack.actions import slack_actions
from pivot.providers.slack.client import SLACK_API, SlackClient
from pivot.providers.stripe.actions import stripe_actions
from pivot.providers.stripe.client import STRIPE_API, StripeClient
from pivot.services.plugins import BUILT_IN, Sourced, check_unique, entry_point_actions, env_actions

CREDENTIAL_ENV = {
    "stripe": "STRIPE_API_KEY",
    "hubspot": "HUBSPOT_TOKEN",
    "slack": "SLACK_BOT_TOKEN",
    "salesforce": "SALESFORCE_TOKEN",
    "shopify": "SHOPIFY_ACCESS_TOKEN",
    "resend": "RESEND_API_KEY",
    "postgres": "PIVOT_POSTGRES_DSN",
}


def _with_compensation_budget(actions: list[Action]) -> list[Action]:
    """PIVOT_COMPENSATION_BUDGET_S bounds how long an undo keeps retrying (default: days)."""
    seconds = os.environ.get("PIVOT_COMPENSATION_BUDGET_S")
    if not seconds:
        return actions
    budget = RetryBudget(max_attempts=None, max_duration=timedelta(seconds=float(seconds)),
                         max_interval=timedelta(seconds=min(60.0, max(1.0, float(seconds) / 4))))
    return [replace(action, compensation_retry=budget) for action in actions]


@dataclass(frozen=True)
class Clients:
    """One client per provider, each bound to its default endpoint (named connections are chosen
    per request, see providers/connections.py). The catalog's actions and `pivot doctor` share them."""

    stripe: StripeClient
    hubspot: HubSpotClient
    slack: SlackClient
    salesforce: SalesforceClient
    shopify: ShopifyClient
    resend: ResendClient
    postgres: PostgresClient = field(default_factory=PostgresClient)


def slack_client() -> SlackClient:
    return SlackClient(Endpoint.from_env("slack", SLACK_API, CREDENTIAL_ENV["slack"], "Slack"))


def resend_client() -> ResendClient:
    return ResendClient(Endpoint.from_env("resend", RESEND_API, CREDENTIAL_ENV["resend"], "Resend"))


def build_clients() -> Clients:
    return Clients(
        stripe=StripeClient(Endpoint.from_env("stripe", STRIPE_API, CREDENTIAL_ENV["stripe"], "Stripe")),
        hubspot=HubSpotClient(Endpoint.from_env("hubspot", HUBSPOT_API, CREDENTIAL_ENV["hubspot"], "HubSpot")),
        slack=slack_client(),
        salesforce=SalesforceClient(
            Endpoint.from_env("salesforce", SALESFORCE_API, CREDENTIAL_ENV["salesforce"], "Salesforce")),
        shopify=ShopifyClient(Endpoint.from_env("shopify", SHOPIFY_API, CREDENTIAL_ENV["shopify"], "Shopify")),
        resend=resend_client(),
    )


def approver_tokens() -> dict[str, str]:
    """name → token from `PIVOT_APPROVERS`, read now (never kept): for the processes that make or
    check approvers' proofs — the service, the approval page, pivot mcp's chat user."""
    return parse_approver_tokens(os.environ.get(APPROVERS_ENV, ""))


def configured_approvers(environ: Mapping[str, str] | None = None) -> frozenset[str] | None:
    """The approver names in `PIVOT_APPROVERS`, or None when the variable is not set here (a
    client's shell, where the service's approvers are not known)."""
    env = os.environ if environ is None else environ
    if APPROVERS_ENV not in env:
        return None
    return frozenset(parse_approver_tokens(env[APPROVERS_ENV]))


def build_catalog(clients: Clients | None = None, *, approvers: Iterable[str] | None = None) -> Catalog:
    """Every action — built in, from installed packages' `pivot.actions` entry points, and from
    `PIVOT_CATALOG_PLUGINS` (services/plugins.py) — each wrapped so that what its provider reports
    is redacted before a saga stores it (an error body may echo the credential). Raises
    `CatalogError` naming the plugin when one cannot be loaded or clashes with another.

    `approvers`: the names a gate may use; by default those of `PIVOT_APPROVERS` when it is set,
    else unknown (gates are not checked). The service passes its own, empty when none is set."""
    c = clients or build_clients()
    built_in = [*hubspot_actions(c.hubspot), *stripe_actions(c.stripe), *slack_actions(c.slack),
                *salesforce_actions(c.salesforce), *shopify_actions(c.shopify),
                *resend_actions(c.resend),
                *postgres_actions(c.postgres)]
    sourced = [*(Sourced(action, BUILT_IN) for action in built_in), *entry_point_actions(), *env_actions()]
    sources = check_unique(sourced)
    actions = _with_compensation_budget([redacting(item.action) for item in sourced])
    known = configured_approvers() if approvers is None else approvers
    return Catalog.of(actions, connections.names(connections.load()), sources, known)
