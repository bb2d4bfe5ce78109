"""What a gated step will do, in words, for the approver who decides it.

An approver should not have to read a plan's JSON in cents to know what they are approving. The
approval page shows this summary first — the action and what it does, the amounts with their
currency, the customer or recipient, what happens if the saga unwinds — and the raw params one
click away. Built here, on the page's server, from the pending approval's params (already resolved:
a `$from` holds its verified value) and the catalog; an action it has no phrase for (a plugin's)
gets a generic one, and amounts are found the same way for every action: any `amount`, or
`lines[].amount`, that comes with a `currency`.

Everything returned is plain text; the page renders it with textContent.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from pivot.compensations.actions import Action
from pivot.compensations.kinds import StepKind

PHRASES = {
    "stripe.create_invoice": "Create and finalize a Stripe invoice",
    "stripe.charge": "Charge a payment method on Stripe",
    "stripe.refund": "Refund a Stripe payment",
    "stripe.send_invoice": "Email a Stripe invoice to its customer",
    "stripe.create_customer": "Create a Stripe customer",
    "hubspot.create_contact": "Create a HubSpot contact",
    "hubspot.create_deal": "Create a HubSpot deal",
    "hubspot.update_properties": "Change properties of a HubSpot record",
    "hubspot.batch_create": "Create HubSpot records in one batch",
    "slack.post_message": "Post a Slack message",
    "slack.update_message": "Edit a Slack message",
    "salesforce.create_record": "Create a Salesforce record",
    "salesforce.create_records_atomic": "Create Salesforce records, all or none",
    "salesforce.update_record": "Change fields of a Salesforce record",
    "salesforce.upsert_record": "Create or update a Salesforce record by its external id",
    "shopify.create_draft_order": "Create a Shopify draft order",
    "shopify.complete_draft_order": "Turn a Shopify draft order into a real order",
    "shopify.cancel_order": "Cancel a Shopify order",
    "shopify.refund": "Refund a Shopify order",
    "resend.send_email": "Send an email through Resend",
    "resend.send_correction": "Send a correction to an email sent through Resend",
    "shopify.reserve_inventory": "Reserve Shopify inventory at a location",
    "shopify.create_fulfillment": "Ship a Shopify fulfillment order",
    "postgres.insert_record": "Insert a row in the shop's own database",
    "postgres.update_record": "Change a row in the shop's own database",
    "postgres.delete_record": "Delete a row from the shop's own database",
}
"""What each built-in action does, as a phrase; others get `generic_phrase`."""

PROVIDER_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "shopify": "Shopify", "slack": "Slack",
                  "stripe": "Stripe", "resend": "Resend", "postgres": "PostgreSQL"}

PARTIES = (("customer", "Customer"), ("email", "Email"), ("recipient", "Recipient"), ("to", "Recipient"),
           ("channel", "Channel"), ("order", "Order"), ("draft_order", "Draft order"),
           ("payment_intent", "Payment"), ("invoice", "Invoice"), ("object_id", "Record"), ("dealname", "Deal"),
           ("text", "Message"))
"""Top-level params that say who or what a step concerns, with their label, in the order shown."""

ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
                          "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"})
SYMBOLS = {"usd": "$", "cad": "$", "aud": "$", "nzd": "$", "sgd": "$", "hkd": "$", "mxn": "$", "eur": "€",
           "gbp": "£", "jpy": "¥", "cny": "¥", "inr": "₹", "krw": "₩"}
"""The sign people read before an amount; the ISO code after it says which dollar or yen it is."""


class StepSummary(BaseModel):
    """The words an approver reads before deciding."""

    headline: str
    """"Create and finalize a Stripe invoice · $120.00 USD · customer cus_9s6XKzkNRiz8i3"."""
    does: str
    """The action and what it does, including what undoes it if the saga unwinds."""
    amounts: list[str]
    """Each amount with its currency ("$120.00 USD (Pro plan)"), and their total when there are several."""
    details: list[tuple[str, str]]
    """(label, value): the customer, the recipient, the channel, the message…"""


def generic_phrase(action: str) -> str:
    """"acme.open_ticket" → "Acme: open ticket"."""
    provider, _, verb = action.partition(".")
    return f"{PROVIDER_NAMES.get(provider, provider.capitalize())}: {verb.replace('_', ' ')}"


def format_money(amount: Any, currency: str) -> str | None:
    """An amount as people read it. An integer is in the currency's minor unit, as Stripe's API
    counts (12000 usd → "$120.00 USD"); a decimal number or string is already in the major unit, as
    Shopify's is ("12.50" → "$12.50 USD"). None for anything that is not an amount."""
    code = currency.strip().lower()
    if isinstance(amount, bool) or not code.isalpha() or len(code) != 3:
        return None
    if isinstance(amount, int):
        places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
        shown = f"{Decimal(amount).scaleb(-places):,.{places}f}"
    else:
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            return None
        if not value.is_finite():
            return None
        shown = f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"
    sign = "-" if shown.startswith("-") else ""
    return f"{sign}{SYMBOLS.get(code, '')}{shown.removeprefix('-')} {code.upper()}"


def _amounts(params: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """Each amount with its currency (and what it is for), and the one amount a headline says: the
    only one, or the total of several in one currency."""
    found: list[tuple[str, Any, str]] = []  # (as shown, the raw amount, its currency)
    currency = params.get("currency")
    if "amount" in params and isinstance(currency, str) and (money := format_money(params["amount"], currency)):
        found.append((money, params["amount"], currency))
    lines = params.get("lines")
    for line in lines if isinstance(lines, list) else []:
        line_currency = line.get("currency", currency) if isinstance(line, Mapping) else None
        if isinstance(line_currency, str) and (money := format_money(line.get("amount"), line_currency)):
            what = line.get("description")
            found.append((f"{money} ({what})" if isinstance(what, str) and what else money, line["amount"],
                          line_currency))
    shown = [text for text, _, _ in found]
    if len(found) == 1:
        return shown, format_money(found[0][1], found[0][2])
    currencies = {code.lower() for _, _, code in found}
    if len(currencies) == 1 and all(type(amount) is int for _, amount, _ in found):
        total = format_money(sum(amount for _, amount, _ in found), currencies.pop())
        return [*shown, f"total {total}"], total
    return shown, None


def _details(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    details = []
    for key, label in PARTIES:
        value = params.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            text = str(value)
            details.append((label, text if len(text) <= 300 else text[:299] + "…"))
    return details


def _does(name: str, action: Action | None) -> str:
    if action is None:
        return f"{name}: an action this page does not know; read its params below."
    if action.kind is StepKind.COMPENSABLE:
        then = f"if the saga fails after it, it is undone: {action.compensation}"
    elif action.kind is StepKind.RETRYABLE:
        then = "it runs after the point of no return and is retried until it succeeds; it is not undone"
    else:
        then = f"it cannot be undone once done; undo: {action.compensation}"
    return f"{name} ({action.kind.value}): {then}."


def summarize_step(action_name: str, params: Mapping[str, Any], catalog: Mapping[str, Action]) -> StepSummary:
    """The summary of one pending approval's step."""
    phrase = PHRASES.get(action_name) or generic_phrase(action_name)
    amounts, headline_amount = _amounts(params)
    details = _details(params)
    party = next(((label, value) for label, value in details if label != "Message"), None)
    parts = [phrase, *([headline_amount] if headline_amount else []), *([f"{party[0].lower()} {party[1]}"] if party
                                                                        else [])]
    return StepSummary(headline=" · ".join(parts), does=_does(action_name, catalog.get(action_name)), amounts=amounts,
                       details=details)


def add_summaries(items: list[Any], catalog: Mapping[str, Action]) -> None:
    """Give each pending approval (as `Approvals/pending` or `Approval/get` answer it) its `summary`:
    the one the service wrote when the gate opened (what its digest binds), else one made here."""
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("summary"), dict):
            continue
        if isinstance(item, dict) and isinstance(item.get("action"), str) and isinstance(item.get("params"), dict):
            item["summary"] = summarize_step(item["action"], item["params"], catalog).model_dump()
