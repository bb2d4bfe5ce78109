"""Which API keys the Stripe sandbox accepts, and what a restricted key may do, in Stripe's words.

Stripe authenticates a key first (401), then checks a restricted key's permission for the
endpoint (403) before anything else: before parameters are read or the object is looked up, so
an update of an object that does not exist answers 403 to a key without the permission and 404
to one with it (which is how `pivot doctor` probes write access without writing). The 403 is
`{"error": {"type": "invalid_request_error", "message": "The provided key 'rk_test_***…abc123'
does not have the required permissions for this endpoint on account 'acct_…'. Having the
'rak_refund_write' permission would allow this request to continue."}}`, with no `code` (the SDKs
raise their permission error from the status).

Keys follow the kit's token book: a key the sandbox was not configured with (nor registered) gets
Stripe's 401 for an unknown key, `Invalid API Key provided: sk_test_****…wxyz` (type
invalid_request_error, no code); a registered key's `scopes` are its `rak_<resource>_<read|write>`
permissions, write implying read (as in the Dashboard); a configured key may do everything, like a
secret key. A revoked key gets the 401 of a rolled key that has expired (`api_key_expired`).
Which permission reads the account object is not documented; here it is `rak_account_read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pivot.providers.sandbox_kit.tokens import TokenBook
from pivot.providers.stripe.sandbox.errors import StripeError

RESOURCES: Mapping[str, str] = MappingProxyType({
    "account": "account",
    "charges": "charge",
    "customers": "customer",
    "invoiceitems": "invoice_item",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "refunds": "refund",
})
"""The first path segment after /v1/ -> the resource its permissions are named after."""
_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_")


def permission(method: str, path: str) -> str | None:
    """The permission an endpoint needs: GET reads, POST and DELETE write."""
    parts = path.strip("/").split("/")
    resource = RESOURCES.get(parts[1]) if len(parts) > 1 and parts[0] == "v1" else None
    if resource is None:
        return None
    return f"rak_{resource}_{'read' if method == 'GET' else 'write'}"


def masked(key: str, shown: int) -> str:
    """A key as Stripe quotes it in an error: its kind prefix (`sk_test_`), a star for every hidden
    character, and its last `shown` characters ("undefined" is quoted as `*****ined`)."""
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    hidden = len(key) - len(prefix) - shown
    if hidden <= 0:  # too short to show anything of it
        return prefix + "*" * (len(key) - len(prefix))
    return prefix + "*" * hidden + key[-shown:]


class KeyAccess:
    """The 401 and 403 of one sandbox, decided by its token book."""

    def __init__(self, tokens: TokenBook, account_id: str) -> None:
        self.tokens = tokens
        self.account_id = account_id

    def check(self, key: str, method: str, path: str) -> None:
        """Raise Stripe's 401 for an unknown or revoked key, its 403 for a missing permission."""
        if self.tokens.revoked(key):
            raise StripeError(401, f"Expired API Key provided: {masked(key, 4)}", code="api_key_expired",
                              saved=False)
        if not self.tokens.known(key):
            raise StripeError(401, f"Invalid API Key provided: {masked(key, 4)}", saved=False)
        granted = self.tokens.scopes(key)
        needed = permission(method, path)
        if granted is None or needed is None:
            return
        implied = needed.removesuffix("_read") + "_write"
        if needed in granted or implied in granted:
            return
        raise StripeError(
            403,
            f"The provided key '{masked(key, 6)}' does not have the required permissions for this endpoint on "
            f"account '{self.account_id}'. Having the '{needed}' permission would allow this request to continue.",
            saved=False,
        )
