"""The email channel's link: a signed capability that opens one gate on the approval page as one approver.

    <page>/#approval=<approval id>&approver=<name>&digest=<hex>&expires=<unix s>&sig=<hex>

Why a fragment: a browser never sends what follows `#`, so the link reaches no server's access log,
no proxy and no `Referer` (the page sends `Referrer-Policy: no-referrer` as well); the page's script
reads it and posts it to the page's own server, which checks it.

Why these fields: the approval and the approver say which gate, as whom; the digest binds the link to
what the email showed (a decision made through it carries that digest, so a gate showing anything else
refuses it); `expires` is the gate's deadline. `sig` is HMAC-SHA256 keyed by the approver's token over
all four with a context of its own (`LINK_CONTEXT`), so a link's signature is never a decision or read
proof, nor one of those a link's. Rotating an approver's token voids every link they were sent.

Single use is the gate's: a gate is decided once, and the page answers a second use as used.

`check_link` answers one sentence for anything wrong with a link — a changed field, the signature, an
unknown approver, a malformed string — never which part, so a forger learns nothing by trying; only an
authentic link is told that it expired.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode

from pivot.compensations.approvals import APPROVER_PATTERN, DIGEST_PATTERN
from pivot.compensations.ids import APPROVAL_ID_PATTERN
from pivot.services.approval_text import when

LINK_CONTEXT = "pivot-approval-email-link-v1"
FRAGMENT_START = "approval="
MAX_LINK_CHARS = 2000
FIELDS = ("approval", "approver", "digest", "expires", "sig")
_PATTERNS = {"approval": re.compile(APPROVAL_ID_PATTERN), "approver": re.compile(APPROVER_PATTERN),
             "digest": re.compile(DIGEST_PATTERN), "expires": re.compile(r"^[0-9]{1,12}$"),
             "sig": re.compile(DIGEST_PATTERN)}
NOT_VALID = ("this link is not a valid approval link (it may have been changed or cut short): open the one in "
             "your email as it is, or decide on the approval page with your token")


@dataclass(frozen=True)
class EmailLink:
    """What an authentic link says: decide `approval_id` as `approver`, on what `digest` names, until
    `expires` (unix seconds)."""

    approval_id: str
    approver: str
    digest: str
    expires: int


class LinkRefused(Exception):
    """A link that opens nothing: `code` is `link_refused` (not authentic) or `link_expired`."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def link_signature(token: str, link: EmailLink) -> str:
    fields = {"context": LINK_CONTEXT, "approval": link.approval_id, "approver": link.approver,
              "digest": link.digest, "expires": link.expires}
    message = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def make_link(page_url: str, token: str, link: EmailLink) -> str:
    """The URL an email carries: the page, and the signed fragment. Make it inside `ctx.run` and
    never return it from there: it opens the gate as its approver until the deadline."""
    fields = [("approval", link.approval_id), ("approver", link.approver), ("digest", link.digest),
              ("expires", str(link.expires)), ("sig", link_signature(token, link))]
    return f"{page_url.rstrip('/')}/#{urlencode(fields, quote_via=quote, safe=':~')}"


def _fields(text: str) -> dict[str, str] | None:
    fragment = text.partition("#")[2] if "#" in text else text
    if len(text) > MAX_LINK_CHARS or not fragment.startswith(FRAGMENT_START):
        return None
    try:
        pairs = parse_qsl(fragment, keep_blank_values=True, strict_parsing=True, max_num_fields=len(FIELDS))
    except ValueError:
        return None
    fields = dict(pairs)
    if len(pairs) != len(FIELDS) or set(fields) != set(FIELDS):
        return None
    if not all(_PATTERNS[name].fullmatch(value) for name, value in fields.items()):
        return None
    return fields


def claimed_approver(text: str) -> str:
    """Who a link says it is for, unverified ("" when it is malformed): what rate limits count by
    before the link is checked."""
    fields = _fields(text)
    return fields["approver"] if fields is not None else ""


def check_link(text: str, tokens: Mapping[str, str], now: float) -> EmailLink:
    """The link `text` (the whole URL or its fragment) says, when it is authentic and not past its
    expiry; otherwise `LinkRefused` (403 the same for every flaw, 410 expired)."""
    fields = _fields(text)
    if fields is None:
        raise LinkRefused("link_refused", NOT_VALID, 403)
    link = EmailLink(approval_id=fields["approval"], approver=fields["approver"], digest=fields["digest"],
                     expires=int(fields["expires"]))
    token = tokens.get(link.approver)
    # An unknown approver costs the same HMAC as a known one, so the answer's timing says nothing either.
    expected = link_signature(token or "", link)
    if token is None or not hmac.compare_digest(expected, fields["sig"]):
        raise LinkRefused("link_refused", NOT_VALID, 403)
    if now >= link.expires:
        raise LinkRefused("link_expired", f"this link expired with its approval at {when(link.expires)}: the "
                          "approval can no longer be decided; nothing changed", 410)
    return link
