"""The sandbox's account: sent emails, sending domains, and the idempotency records of `POST /emails`.

Validation follows Resend's reference: `from`, `to` (a string or up to 50 addresses) and `subject`
are required, and `html`, `text` or a `template`; tag names and values are ASCII letters, digits,
`_` and `-`; the sender's domain must be a verified domain of the account (or `resend.dev`, Resend's
own testing domain). Idempotency records live 24 hours and only a sent email is recorded (a refused
request leaves the key free for a corrected retry, which is what a caller needs after a 422).
"""

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pivot.providers.resend.sandbox.errors import ResendError
from pivot.providers.sandbox_kit import Ledger

IDEMPOTENCY_TTL_S = 24 * 3600.0
MAX_KEY_LENGTH = 256
MAX_RECIPIENTS = 50
SANDBOX_DOMAIN = "example.com"
"""The account's one verified sending domain (besides resend.dev)."""
TESTING_DOMAIN = "resend.dev"
TAG_PART = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ADDRESS = re.compile(r"^(?:[^<>]*<\s*)?([^<>@\s]+@([^<>@\s]+))\s*>?\s*$")

JsonDict = dict[str, Any]


def resend_time(at: float) -> str:
    """Resend's timestamps: '2023-04-03 22:13:42.674981+00'."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _addresses(value: Any, field_name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ResendError(422, "validation_error", f"The `{field_name}` field must be a `string` or `array`.")
    for item in items:
        if not ADDRESS.match(item):
            raise ResendError(422, "validation_error",
                              f"Invalid `{field_name}` field. The email address needs to follow the "
                              "`email@example.com` or `Name <email@example.com>` format.")
    return list(items)


@dataclass
class Saved:
    fingerprint: str
    email_id: str
    at: float


@dataclass
class ResendState:
    emails: dict[str, JsonDict] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    """Email ids, oldest first (the list endpoint answers newest first)."""
    saved: dict[tuple[str, str], Saved] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)
    domains: list[JsonDict] = field(default_factory=list)


def seeded_domains() -> list[JsonDict]:
    return [{"object": "domain", "id": str(uuid.UUID(int=0xD91CD9BD1176453E8FC135364D380206)),
             "name": SANDBOX_DOMAIN, "status": "verified", "created_at": resend_time(0), "region": "us-east-1",
             "capabilities": {"sending": "enabled", "receiving": "disabled"}}]


class Store:
    """One sandbox account's emails and idempotency records."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.state = ResendState(domains=seeded_domains())
        self.clock = time.time

    def reset(self) -> None:
        self.state = ResendState(domains=seeded_domains())

    def expire_keys(self) -> int:
        """Forget every idempotency record, as 24 hours would (`POST /_sandbox/idempotency/expire`)."""
        count = len(self.state.saved)
        self.state.saved.clear()
        return count

    # -- idempotency -----------------------------------------------------------------------------
    def check_key(self, key: str) -> None:
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ResendError(400, "invalid_idempotency_key",
                              "Idempotency key must be between 1-256 characters.")

    def replay(self, slot: tuple[str, str], fingerprint: str) -> str | None:
        """The first email's id for a key seen within 24 hours with this payload; the 409s otherwise."""
        if slot in self.state.in_flight:
            raise ResendError(409, "concurrent_idempotent_requests",
                              "Same idempotency key used while original request is still in progress. "
                              "Try the request again later.")
        saved = self.state.saved.get(slot)
        if saved is None or self.clock() - saved.at > IDEMPOTENCY_TTL_S:
            return None
        if saved.fingerprint != fingerprint:
            raise ResendError(409, "invalid_idempotent_request",
                              "Same idempotency key used with a different request payload. Change your "
                              "idempotency key or payload.")
        return saved.email_id

    @staticmethod
    def fingerprint(payload: JsonDict) -> str:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    # -- emails ----------------------------------------------------------------------------------
    def validate(self, payload: JsonDict) -> None:
        for name in ("from", "to", "subject"):
            if payload.get(name) in (None, "", []):
                raise ResendError(422, "missing_required_field", f"Missing `{name}` field.")
        if not any(payload.get(name) for name in ("html", "text", "template")):
            raise ResendError(422, "missing_required_field", "Missing `html` or `text` field.")
        sender = _addresses(payload["from"], "from")
        if len(sender) != 1:
            raise ResendError(422, "validation_error", "The `from` field must be a single address.")
        to = _addresses(payload["to"], "to")
        if len(to) > MAX_RECIPIENTS:
            raise ResendError(422, "validation_error", f"The `to` field must have at most {MAX_RECIPIENTS} addresses.")
        for name in ("cc", "bcc", "reply_to"):
            if payload.get(name) is not None:
                _addresses(payload[name], name)
        if not isinstance(payload["subject"], str):
            raise ResendError(422, "validation_error", "The `subject` field must be a `string`.")
        tags = payload.get("tags") or []
        if not isinstance(tags, list) or not all(
                isinstance(tag, dict) and TAG_PART.match(str(tag.get("name", "")))
                and TAG_PART.match(str(tag.get("value", ""))) for tag in tags):
            raise ResendError(422, "validation_error",
                              "Tags should only contain ASCII letters, numbers, underscores, or dashes.")
        if payload.get("headers") is not None and not isinstance(payload["headers"], dict):
            raise ResendError(422, "validation_error", "The `headers` field must be an `object`.")
        matched = ADDRESS.match(sender[0])
        domain = matched.group(2) if matched else ""
        verified = {d["name"] for d in self.state.domains if d["status"] == "verified"} | {TESTING_DOMAIN}
        if domain.lower() not in verified:
            raise ResendError(403, "validation_error",
                              f"The {domain} domain is not verified. Please, add and verify your domain on "
                              "https://resend.com/domains")

    def send(self, payload: JsonDict, key: str | None) -> str:
        """Store a (validated) email as sent and record the effect."""
        email_id = str(uuid.uuid4())
        now = self.clock()
        scheduled = payload.get("scheduled_at")

        def listed(name: str) -> list[str] | None:
            value = payload.get(name)
            return None if value is None else _addresses(value, name)

        self.state.emails[email_id] = {
            "object": "email", "id": email_id, "message_id": f"<{email_id}@{SANDBOX_DOMAIN}>",
            "to": _addresses(payload["to"], "to"), "from": payload["from"], "created_at": resend_time(now),
            "subject": payload["subject"], "html": payload.get("html"), "text": payload.get("text"),
            "bcc": listed("bcc"), "cc": listed("cc"), "reply_to": listed("reply_to"),
            "last_event": "scheduled" if scheduled else "delivered", "scheduled_at": scheduled,
        }
        self.state.order.append(email_id)
        self.ledger.record("send", "email", email_id, key, {
            "to": self.state.emails[email_id]["to"], "subject": payload["subject"],
            "tags": {str(t["name"]): str(t["value"]) for t in payload.get("tags") or []},
            "headers": dict(payload.get("headers") or {})})
        return email_id

    def get(self, email_id: str) -> JsonDict:
        found = self.state.emails.get(email_id)
        if found is None:
            raise ResendError(404, "not_found", "Email not found")
        return dict(found)

    def page(self, limit: int, after: str | None, before: str | None) -> JsonDict:
        newest_first = list(reversed(self.state.order))
        if after is not None or before is not None:
            cursor = after if after is not None else before
            if cursor not in self.state.emails:
                raise ResendError(422, "validation_error", "The cursor is invalid.")
            at = newest_first.index(str(cursor))
            window = newest_first[at + 1:] if after is not None else newest_first[:at]
            chosen = window[:limit] if after is not None else window[-limit:]
            more = len(window) > limit
        else:
            chosen, more = newest_first[:limit], len(newest_first) > limit
        data = [{k: v for k, v in self.state.emails[i].items() if k not in ("html", "text", "message_id")}
                for i in chosen]
        return {"object": "list", "has_more": more, "data": data}
