"""send_email and send_correction: the two Resend actions, both sends, both noncompensable.

How a send is made exactly once. Resend's one key-based mechanism is the `Idempotency-Key` header of
`POST /emails`, kept 24 hours: the same key with the same payload answers the first email's id and
sends nothing. Resend has no read by key (`GET /emails/{id}` and `GET /emails` return neither tags nor
headers, and filter on nothing), so the step's `lookup` *is* that replay: the same request, with the
step's key and a payload built only from the params and the key. Within 24 hours it answers the email
an earlier attempt sent; when no attempt reached Resend, it is the send itself — the very write the
step is making, so either way there is one email. The read-back is `GET /emails/{id}`, compared with
the params (recipients, subject, sender).

Past the 24 hours Resend keeps a key, a replay is a new send and nothing at Resend can tell that an
earlier attempt sent one. A step's retries all fall well inside the window (its budget ends within
minutes: `RETRY`); only a step whose journaled write is re-run more than 24 hours after its first
attempt (the service down for a day in the middle of that step) could send a second email.

The key also rides in a `pivot_key` tag, which Resend shows on the dashboard and in webhook events, so
an operator can match an email to its saga step. An email cannot be unsent: the send is
noncompensable (the engine defers it to commit and places it last). What the seed calls its semantic
compensation, a correction, is `resend.send_correction`, a step an agent or operator asks for with
the email's id (`{"$from": "<step>.id"}`): it reads the original, replies to its recipients under
"Correction: <subject>" with `In-Reply-To`/`References` naming the original's Message-ID, and is made
exactly once the same way.
"""

import os
import uuid
from datetime import timedelta
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pivot.compensations.actions import JsonDict, RetryBudget
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, KeyedAction, Mismatch
from pivot.providers.resend.client import Email, ResendClient

KEY_TAG = "pivot_key"
CORRECTS_TAG = "pivot_corrects"
ADDRESS = r"^(?:[^<>\r\n]{0,200}<)?[^<>@\s]{1,64}@[^<>@\s]{1,255}>?$"
EMAIL_ID = r"^[0-9A-Za-z-]{1,64}$"
Address = Annotated[str, Field(pattern=ADDRESS, max_length=320)]
RETRY = RetryBudget(max_attempts=8, max_duration=timedelta(minutes=10), max_interval=timedelta(seconds=30))
"""Every retry of a send falls inside Resend's 24-hour key window, with a wide margin."""
CARRIER_TEXT = ("the Idempotency-Key header (and a pivot_key tag); Resend keeps it 24 hours: a retry replays it and "
                "gets the first email without a second send. Resend has no read by key: past 24 hours a replay "
                "would send again (a step's retries end within minutes)")
CONFORMANCE_FROM_ENV = "PIVOT_RESEND_CONFORMANCE_FROM"
CONFORMANCE_TO_ENV = "PIVOT_RESEND_CONFORMANCE_TO"

P = TypeVar("P", bound=BaseModel)


def _tags(**ours: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in ours.items()]


def _recipients(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


class ResendAction(KeyedAction[P, Email]):
    """A send bound to the Resend client. `payload` is the whole request body, a function of the params,
    the key and (for a correction) the immutable original, so a replay matches the first request."""

    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE
    carrier: ClassVar[KeyCarrier] = KeyCarrier.header("Idempotency-Key", CARRIER_TEXT)
    compensation: ClassVar[str] = "none: an email cannot be unsent; follow up with resend.send_correction"
    retry: ClassVar[RetryBudget] = RETRY

    def __init__(self, client: ResendClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        return self.client.http.in_flight_window

    async def payload(self, params: P, key: str) -> dict[str, Any]:
        raise NotImplementedError

    async def lookup(self, params: P, key: str) -> Email | None:
        """The email the step's key names: Resend's replay of the key (see the module docstring)."""
        email_id = await self.client.send(await self.payload(params, key), key)
        return await self.client.get(email_id)

    async def write(self, params: P, key: str) -> Email:
        email_id = await self.client.send(await self.payload(params, key), key)
        return {"id": email_id}

    async def read_back(self, params: P, key: str, written: Email) -> Email | None:
        """`GET /emails/{id}` of the email the send answered."""
        return await self.client.get(str(written["id"]))

    def _verified(self, fresh: Email, to: list[str], subject: str, sender: str) -> JsonDict:
        email_id = str(fresh["id"])
        shown = {"to": _recipients(fresh.get("to")), "subject": fresh.get("subject"), "from": fresh.get("from")}
        wanted = {"to": to, "subject": subject, "from": sender}
        if shown != wanted:
            raise Mismatch(f"Resend email {email_id} does not match what the step sent", expected=wanted, actual=shown)
        return {"ref": f"resend:email/{email_id}", "id": email_id, "to": to, "subject": subject, "from": sender,
                "last_event": fresh.get("last_event"), "created_at": fresh.get("created_at")}


def conformance_sender() -> str:
    return os.environ.get(CONFORMANCE_FROM_ENV) or "Pivot <onboarding@resend.dev>"


def conformance_recipient() -> str:
    """Resend's test inbox: it accepts mail from any account without a verified domain."""
    return os.environ.get(CONFORMANCE_TO_ENV) or "delivered@resend.dev"


# --------------------------------------------------------------------------- send_email


class SendEmailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: Address = Field(description="The From address, 'Name <orders@your-domain>' on a domain verified at "
                                        "Resend")
    to: list[Address] = Field(min_length=1, max_length=50)
    subject: str = Field(min_length=1, max_length=998)
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    html: str | None = Field(default=None, min_length=1, max_length=100_000)
    reply_to: list[Address] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _has_body(self) -> "SendEmailParams":
        if self.text is None and self.html is None:
            raise ValueError("give text or html (or both)")
        return self


class SendEmail(ResendAction[SendEmailParams]):
    name: ClassVar[str] = "resend.send_email"
    idempotency = "key"
    params = SendEmailParams
    readback: ClassVar[str] = "GET /emails/{id}: recipients, subject and sender"
    not_run: ClassVar[str] = "No email was sent"

    async def payload(self, params: SendEmailParams, key: str) -> dict[str, Any]:
        body: dict[str, Any] = {"from": params.sender, "to": params.to, "subject": params.subject,
                                "tags": _tags(**{KEY_TAG: key})}
        for name in ("text", "html", "reply_to"):
            if getattr(params, name) is not None:
                body[name] = getattr(params, name)
        return body

    def verify(self, params: SendEmailParams, fresh: Email) -> JsonDict:
        return self._verified(fresh, params.to, params.subject, params.sender)

    def describe(self, result: JsonDict) -> str:
        return f"Email {result['id']} (\"{result['subject']}\") was sent to {', '.join(result['to'])}"

    async def example(self) -> SendEmailParams:
        return SendEmailParams(sender=conformance_sender(), to=[conformance_recipient()],
                               subject=f"Pivot conformance {uuid.uuid4().hex[:8]}",
                               text="A test email sent by pivot conformance.")


# --------------------------------------------------------------------------- send_correction


class SendCorrectionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_id: str = Field(pattern=EMAIL_ID, description="The email to correct: a resend.send_email step's `id`")
    sender: Address = Field(description="The From address of the correction")
    text: str | None = Field(default=None, min_length=1, max_length=100_000)
    html: str | None = Field(default=None, min_length=1, max_length=100_000)
    subject: str | None = Field(default=None, min_length=1, max_length=998,
                                description="Default: 'Correction: ' and the original's subject")

    @model_validator(mode="after")
    def _has_body(self) -> "SendCorrectionParams":
        if self.text is None and self.html is None:
            raise ValueError("give text or html (or both)")
        return self


class SendCorrection(ResendAction[SendCorrectionParams]):
    name: ClassVar[str] = "resend.send_correction"
    idempotency = "key"
    params = SendCorrectionParams
    readback: ClassVar[str] = "GET /emails/{id} of the original, then of the correction: recipients, subject, sender"
    not_run: ClassVar[str] = "No correction email was sent"

    async def original(self, params: SendCorrectionParams) -> Email:
        found = await self.client.get(params.email_id)
        if found is None:
            raise ProviderRejected("email_not_found", f"Resend has no email {params.email_id} to correct")
        return found

    def subject_of(self, params: SendCorrectionParams, original: Email) -> str:
        return params.subject or f"Correction: {original.get('subject') or ''}".rstrip()

    async def payload(self, params: SendCorrectionParams, key: str) -> dict[str, Any]:
        original = await self.original(params)
        body: dict[str, Any] = {
            "from": params.sender, "to": _recipients(original.get("to")),
            "subject": self.subject_of(params, original),
            "tags": _tags(**{KEY_TAG: key, CORRECTS_TAG: params.email_id}),
        }
        message_id = original.get("message_id")
        if isinstance(message_id, str) and message_id:
            body["headers"] = {"In-Reply-To": message_id, "References": message_id}
        for name in ("text", "html"):
            if getattr(params, name) is not None:
                body[name] = getattr(params, name)
        return body

    async def read_back(self, params: SendCorrectionParams, key: str, written: Email) -> Email | None:
        """The correction, with what it must match taken from the original (read again: it is immutable)."""
        fresh = await self.client.get(str(written["id"]))
        if fresh is None:
            return None
        original = await self.original(params)
        return {**fresh, "_expected": {"to": _recipients(original.get("to")),
                                       "subject": self.subject_of(params, original)}}

    async def lookup(self, params: SendCorrectionParams, key: str) -> Email | None:
        found = await super().lookup(params, key)
        return None if found is None else await self.read_back(params, key, found)

    def verify(self, params: SendCorrectionParams, fresh: Email) -> JsonDict:
        expected = fresh.get("_expected") or {}
        result = self._verified(fresh, list(expected.get("to") or []), str(expected.get("subject")), params.sender)
        return {**result, "corrects": params.email_id}

    def describe(self, result: JsonDict) -> str:
        return f"Correction {result['id']} of email {result['corrects']} was sent to {', '.join(result['to'])}"

    async def example(self) -> SendCorrectionParams:
        """An email sent for the run (as an earlier step would have), to correct."""
        sent = await self.client.send({"from": conformance_sender(), "to": [conformance_recipient()],
                                       "subject": f"Pivot conformance {uuid.uuid4().hex[:8]}",
                                       "text": "A test email sent by pivot conformance."}, uuid.uuid4().hex)
        return SendCorrectionParams(email_id=sent, sender=conformance_sender(),
                                    text="Correction: please disregard the email above.")
