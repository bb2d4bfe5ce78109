"""Slack's Approve / Reject clicks, received and turned into a decision like any other channel's.

    POST /slack/interactivity      (the Slack app's Interactivity Request URL)

Slack signs each request (`X-Slack-Signature`, v0 HMAC over `v0:timestamp:body` with the app's
signing secret); `slack_sdk`'s `SignatureVerifier` checks it, the timestamp within five minutes, in
constant time. Anything else is 401 and nothing is read. A verified click is acknowledged at once
(Slack shows an error if no 200 comes within 3 seconds) and decided after the answer is sent:

- the Slack user is mapped to a configured approver (`PIVOT_SLACK_APPROVERS="finance:U07FINLEAD,…"`);
  anyone else, or an approver the gate does not name, is told so ephemerally and nothing changes;
- the message clicked must still show the gate as it stands (its text, and the digest in the
  button): a message edited since it was posted, or a gate whose params changed, is refused;
- the decision goes to `Approval/{id}/decide` with channel `slack` and the approver's proof, made
  here with the approver's token (`PIVOT_APPROVERS`): the same check, the same record, as the page's.
  A replayed click finds the gate decided and decides nothing.

The message itself is updated by the gate when it closes (services/approval_channels/slack_notice.py),
whichever channel decided it; the clicker gets an ephemeral line saying what happened.
"""

import json
import logging
import os
import time
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pivot.compensations.approvals import PendingApproval, decision_request, read_request
from pivot.providers.slack.approvals_config import (
    INTERACTIVITY_PATH,
    SIGNING_SECRET_ENV,
    SLACK_APPROVERS_ENV,
    slack_users,
)
from pivot.services.approval_channels.slack_blocks import APPROVE, REJECT, outcome_line, shows
from pivot.services.catalog import approver_tokens
from pivot.services.client import error_of

PATH = INTERACTIVITY_PATH
log = logging.getLogger("pivot.approvals.slack")


def slack_approvers(spec: str) -> dict[str, str]:
    """"finance:U07FINLEAD,ops:U07OPSLEAD" → {"U07FINLEAD": "finance", …}: Slack user id → approver."""
    return {user: name for name, user in slack_users(spec).items()}


def verified(verifier: SignatureVerifier, body: bytes, headers: Any) -> bool:
    try:
        return verifier.is_valid_request(body, dict(headers))
    except ValueError:  # a timestamp that is not a number
        return False


def click_of(body: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(payload, the Pivot button clicked) from a verified request, or None for anything else."""
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    for action in payload.get("actions") or []:
        if isinstance(action, dict) and action.get("action_id") in (APPROVE, REJECT):
            return payload, action
    return None


class SlackClicks:
    """The endpoint's state: who is who, the approvers' tokens (read per click), the ingress."""

    def __init__(self, ingress: httpx.AsyncClient, signing_secret: str):
        self.ingress = ingress
        self.verifier = SignatureVerifier(signing_secret)
        self.replies = httpx.AsyncClient(timeout=10.0)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if not verified(self.verifier, body, request.headers):
            return JSONResponse({"error": {"code": "bad_signature", "status": 401, "message":
                                           "the request is not signed by this Slack app, or its timestamp is more "
                                           "than five minutes away"}}, status_code=401)
        click = click_of(body)
        if click is None:
            return Response(status_code=200)  # not a Pivot button: acknowledged, nothing to do
        return Response(status_code=200, background=BackgroundTask(self.decide, *click))

    async def decide(self, payload: dict[str, Any], action: dict[str, Any]) -> None:
        """After the acknowledgement: decide, and tell the clicker what happened."""
        try:
            said = await self._decide(payload, action)
        except Exception as exc:  # the clicker must hear something; the gate is unchanged
            log.exception("a Slack click could not be handled")
            said = f"Pivot could not handle this click ({type(exc).__name__}); nothing was decided."
        await self._tell(payload, said)

    async def _decide(self, payload: dict[str, Any], action: dict[str, Any]) -> str:
        user = str((payload.get("user") or {}).get("id", ""))
        approver = slack_approvers(os.environ.get(SLACK_APPROVERS_ENV, "")).get(user)
        try:
            value = json.loads(str(action.get("value", "")))
            approval, digest = str(value["approval"]), str(value["digest"])
        except (ValueError, KeyError, TypeError):
            return "This button does not name a Pivot approval; nothing was decided."
        if approver is None:
            return "You are not a configured approver, so you cannot decide this; nothing changed."
        token = approver_tokens().get(approver)
        if token is None:
            return f"The approver {approver} has no credentials on this server; nothing was decided."
        read = await self.ingress.post(f"/Approval/{quote(approval, safe='')}/get",
                                       json=read_request(approver, token, time.time()))
        if read.status_code != 200:
            return f"You ({approver}) may not decide this approval; nothing changed."
        gate = read.json()
        if gate.get("closed"):
            return f"This approval is already closed: {outcome_line(gate['closed'])}. Nothing changed."
        pending = PendingApproval.model_validate(gate["pending"])
        if not shows((payload.get("message") or {}).get("blocks"), pending):
            return ("This message no longer shows the approval as Pivot posted it, so it cannot decide it; nothing "
                    "changed. Open the approval page to see what it asks now.")
        approved = action.get("action_id") == APPROVE
        decision = decision_request(token, approval, approver, approved, digest=digest, channel="slack")
        answer = await self.ingress.post(f"/Approval/{quote(approval, safe='')}/decide", json=decision)
        if answer.status_code != 200:
            return f"{error_of(answer).message}"
        return f"You {'approved' if approved else 'rejected'} it, as {approver}."

    async def _tell(self, payload: dict[str, Any], text: str) -> None:
        """An ephemeral line for the clicker only, through the click's response_url."""
        url = payload.get("response_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return
        try:
            await self.replies.post(url, json={"response_type": "ephemeral", "replace_original": False, "text": text})
        except httpx.HTTPError as exc:
            log.warning("could not answer a Slack click: %s", exc)


def slack_routes(ingress: httpx.AsyncClient) -> list[Route]:
    """The interactivity route when this server has the Slack app's signing secret, else none."""
    secret = os.environ.get(SIGNING_SECRET_ENV, "").strip()
    if not secret:
        return []
    return [Route(PATH, SlackClicks(ingress, secret).receive, methods=["POST"])]
