"""`pivot doctor` and `pivot setup` for a Slack workspace, through the client the sagas use.

Slack has no idempotency key and Pivot creates nothing in a workspace: the saga key rides in the
message metadata (`metadata.event_payload.pivot_key`) and the channel history is scanned for it
before any (re)post. What a workspace must grant is the bot token's OAuth scopes, and no API can
grant a scope: `setup` names the scopes to add in the app's configuration and says to reinstall
the app, which is when Slack grants them.

Everything doctor needs comes from one `GET /api/auth.test` (it needs no scope): its body names
the team and the bot user, its `x-oauth-scopes` header lists the token's scopes, `Date` is
Slack's clock, and a 429 says the token is rate-limited right now. The details name the
environment variable holding the token, never its value.
"""

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import httpx

from pivot.providers.account_kit import AccountBase, Check, Probe, SetupStep
from pivot.providers.http import retry_after_seconds
from pivot.providers.slack.approvals_config import (
    CHANNEL_ENV,
    EVERY_ENV,
    INTERACTIVITY_PATH,
    SIGNING_SECRET_ENV,
    SLACK_APPROVERS_ENV,
    slack_users,
)
from pivot.providers.slack.client import SlackClient

APPS_PAGE = "https://api.slack.com/apps"
REQUIRED_SCOPES: Mapping[str, str] = MappingProxyType({
    "chat:write": "chat.postMessage, chat.update and chat.delete: post_message, update_message and their undo",
    "channels:history": "conversations.history and conversations.replies in public channels: the key scan "
                        "before a (re)post and every read-back",
    "groups:history": "the same reads in private channels",
})
"""What the catalog's Slack actions call, scope by scope (Slack's method reference)."""
OPTIONAL_SCOPES: Mapping[str, str] = MappingProxyType({
    "im:history": "read-backs in direct messages (D… channels)",
    "mpim:history": "read-backs in group direct messages",
    "chat:write.public": "posting in public channels the bot has not been invited to",
    "users:read": "approvals in Slack: doctor checks that each approver's Slack user exists",
})
"""Needed only for some plans; doctor mentions them, never fails on them."""
AUTH_ERRORS = frozenset({"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive",
                         "no_permission", "not_allowed_token_type", "org_login_required", "ekm_access_denied"})
"""Slack's `error` codes that mean "this token is not (or no longer) good"."""
RATE_LIMITS = ("Slack sends no quota headers: chat.postMessage allows about 1 message per second per channel, "
               "conversations.history is Tier 3 (50+ per minute; 1 per minute with limit 15 for commercially "
               "distributed apps outside the Marketplace installed since 2025-05-29); Pivot waits out a 429's "
               "Retry-After")


def approvals_configured() -> bool:
    return any(os.environ.get(name, "").strip() for name in EVERY_ENV)


def slack_body(response: httpx.Response) -> dict[str, Any] | None:
    """The body when it is a Slack Web API answer (an object with a boolean `ok`), else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("ok"), bool) else None


def granted_scopes(response: httpx.Response) -> list[str] | None:
    """The token's scopes from `x-oauth-scopes`, or None when Slack did not send the header."""
    header = response.headers.get("x-oauth-scopes")
    if header is None:
        return None
    return [scope.strip() for scope in header.split(",") if scope.strip()]


class SlackAccount(AccountBase):
    """A Slack workspace as `pivot setup` and `pivot doctor` see it."""

    provider = "slack"
    label = "Slack"

    def __init__(self, client: SlackClient, *, connection: str = "default") -> None:
        self.client = client
        self.connection = connection

    async def probe(self) -> Probe:
        """One `auth.test`; the failures that leave nothing to look at are recorded, not raised."""
        return await self._probe_with(lambda: self.client.answer("auth.test"))

    # ------------------------------------------------------------------ doctor

    async def checks(self) -> list[Check]:
        """Every check from one `auth.test`. With no answer at all, the one failing check says why
        (unreachable, or no credential configured): the others would only repeat it."""
        probe = await self.probe()
        if probe.unreachable:
            return [self._check("reachable", False, probe.unreachable,
                                f"check the network and the base URL (PIVOT_SLACK_BASE_URL, now {self.url})")]
        if probe.no_credential or probe.response is None:
            return [self._check("credentials", False, probe.no_credential,
                                f"set {self.credential_env} to the app's Bot User OAuth Token (xoxb-…)")]
        response = probe.response
        body = slack_body(response)
        identity = self._credentials(response, body)
        granted = granted_scopes(response) if body is not None and body["ok"] else None
        approvals = [await self._approvals(granted)] if identity.ok and approvals_configured() else []
        return [
            identity,
            self._scopes(identity.ok, granted),
            *approvals,
            self._check("key carriers", True, "none to create: the key rides in message metadata "
                        "(event_payload.pivot_key) and the channel history is scanned for it"),
            self._api_version(response, body),
            self._clock(response, probe.received_at),
            self._rate_limit(response),
            self._reachable(response),
        ]

    async def _approvals(self, granted: list[str] | None) -> Check:
        """Approvals in Slack, checked when configured: the signing secret is there, the channel is
        readable by the bot, and each approver's Slack user exists (`users.info`)."""
        problems: list[str] = []
        secret = os.environ.get(SIGNING_SECRET_ENV, "").strip()
        if not secret:
            problems.append(f"{SIGNING_SECRET_ENV} is not set: no click can be verified")
        channel = os.environ.get(CHANNEL_ENV, "").strip()
        if not channel:
            problems.append(f"{CHANNEL_ENV} is not set: a gate naming slack has nowhere to go")
        else:
            answer = slack_body(await self.client.answer("conversations.history", {"channel": channel, "limit": 1}))
            if answer is None or not answer["ok"]:
                problems.append(f"the bot cannot read {channel} ({(answer or {}).get('error', 'no answer')}): "
                                "invite it to the channel")
        users = slack_users(os.environ.get(SLACK_APPROVERS_ENV, ""))
        if not users:
            problems.append(f"{SLACK_APPROVERS_ENV} names no approver (approver:SlackUserId,…)")
        elif granted is not None and "users:read" not in granted:
            problems.append("the token lacks users:read, so the approvers' Slack users cannot be checked")
        else:
            for approver, user in users.items():
                answer = slack_body(await self.client.answer("users.info", {"user": user}))
                if answer is None or not answer["ok"]:
                    problems.append(f"{approver}'s Slack user {user} was not found "
                                    f"({(answer or {}).get('error', 'no answer')})")
        where = f"set the app's Interactivity Request URL to <approval page>{INTERACTIVITY_PATH}"
        if problems:
            return self._check("approvals", False, "; ".join(problems), f"fix the above, and {where}")
        return self._check("approvals", True, f"clicks verified with {SIGNING_SECRET_ENV}; gates posted to {channel}; "
                           f"approvers {', '.join(f'{a} = {u}' for a, u in users.items())}; {where} "
                           "(no API can read it back)")

    def _credentials(self, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        if body is None:
            return self._check("credentials", False,
                               f"auth.test answered HTTP {response.status_code} with a body that is not Slack's",
                               f"point the base URL at https://slack.com (now {self.url})")
        if body["ok"]:
            who = "bot user" if body.get("bot_id") else "user"
            return self._check("credentials", True,
                               f"the token in {self.credential_env} works: team {body.get('team')} "
                               f"({body.get('team_id')}), {who} {body.get('user')} ({body.get('user_id')})")
        error = str(body.get("error") or "unknown_error")
        if error in AUTH_ERRORS:
            return self._check("credentials", False, f"Slack refused the token in {self.credential_env}: {error}",
                               f"copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page "
                               f"at {APPS_PAGE} (reinstall the app if it was removed) into {self.credential_env}")
        return self._check("credentials", False, f"auth.test could not check the token: {error}",
                           "run pivot doctor again; if it persists, see https://status.slack.com")

    def _scopes(self, token_ok: bool, granted: list[str] | None) -> Check:
        if not token_ok:
            return self._check("scopes", False, "not checked: Slack did not accept the token",
                               "fix the credentials first")
        if granted is None:
            return self._check("scopes", False, "Slack sent no x-oauth-scopes header: the token's scopes are unknown",
                               f"point the base URL at https://slack.com (now {self.url})")
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        optional = [f"{scope} ({why})" for scope, why in OPTIONAL_SCOPES.items() if scope not in granted]
        note = f"; not granted, needed only for some plans: {'; '.join(optional)}" if optional else ""
        if missing:
            needs = "; ".join(f"{scope}: {REQUIRED_SCOPES[scope]}" for scope in missing)
            return self._check("scopes", False, f"the token lacks {', '.join(missing)} ({needs}){note}",
                               f"add the bot token scopes {', '.join(missing)} under OAuth & Permissions → Scopes "
                               f"at {APPS_PAGE}, then reinstall the app to the workspace (Slack grants added "
                               "scopes only on reinstall)")
        return self._check("scopes", True, f"granted: {', '.join(REQUIRED_SCOPES)}{note}")

    def _api_version(self, response: httpx.Response, body: dict[str, Any] | None) -> Check:
        if body is None:
            return self._check("api version", False,
                               f"{self.url} does not answer like Slack's Web API (HTTP {response.status_code})",
                               f"point the base URL at https://slack.com (now {self.url})")
        return self._check("api version", True, "the Web API answers (it has no versions: methods change "
                           "with deprecation notices)")

    def _clock(self, response: httpx.Response, received_at: float) -> Check:
        return self._clock_check(response.headers.get("date"), received_at)

    def _rate_limit(self, response: httpx.Response) -> Check:
        if response.status_code == 429:
            wait = retry_after_seconds(response)
            after = f" (Retry-After {wait:g}s)" if wait is not None else ""
            return self._check("rate limit", False, f"Slack is rate-limiting this token right now{after}",
                               "wait; if it persists, look for another client sharing the token")
        return self._check("rate limit", True, RATE_LIMITS)

    def _reachable(self, response: httpx.Response) -> Check:
        if response.status_code >= 500:
            return self._check("reachable", False, f"Slack answered HTTP {response.status_code} at {self.url}",
                               "try again later; see https://status.slack.com")
        return self._check("reachable", True, f"Slack answered at {self.url}")

    # ------------------------------------------------------------------ setup

    def _granted(self, probe: Probe) -> tuple[list[str] | None, str]:
        """The token's scopes, or None and why they could not be read."""
        if probe.response is None:
            return None, probe.unreachable or probe.no_credential
        body = slack_body(probe.response)
        identity = self._credentials(probe.response, body)
        if not identity.ok:
            return None, identity.detail
        granted = granted_scopes(probe.response)
        return granted, "" if granted is not None else "Slack sent no x-oauth-scopes header"

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Nothing to create (so `dry_run` changes nothing): the granted scopes are `exists`, each
        missing one a `manual` step naming it, then one step to reinstall the app."""
        steps = [self._step("key carrier: message metadata (event_payload.pivot_key)", "exists",
                            "nothing to create: any message can carry metadata, and Pivot scans the channel "
                            "history for it")]
        granted, reason = self._granted(await self.probe())
        if granted is None:
            steps.append(self._step("bot token scopes", "manual",
                                    f"could not read the token's scopes ({reason}); make sure the app has the bot "
                                    f"token scopes {', '.join(REQUIRED_SCOPES)} under OAuth & Permissions → Scopes "
                                    f"at {APPS_PAGE}, and run pivot doctor"))
            return steps
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        for scope, why in REQUIRED_SCOPES.items():
            if scope in granted:
                steps.append(self._step(f"bot token scope {scope}", "exists", f"granted ({why})"))
            else:
                steps.append(self._step(f"bot token scope {scope}", "manual",
                                        f"add {scope} under OAuth & Permissions → Scopes → Bot Token Scopes at "
                                        f"{APPS_PAGE} ({why})"))
        if missing:
            steps.append(self._step("reinstall the app to the workspace", "manual",
                                    f"OAuth & Permissions → Reinstall to Workspace, so that Slack grants "
                                    f"{', '.join(missing)}; if it shows a new Bot User OAuth Token, put it in "
                                    f"{self.credential_env}"))
        return steps
