"""What the approval page says a gated step will do, before any JSON: the action in words, amounts
with their currency (minor units formatted), the customer or recipient, and the undo; a generic
summary for an action the page has no phrase for."""

from typing import Any

import pytest

from pivot.services.catalog import build_catalog
from pivot.services.local.approval_summary import PHRASES, add_summaries, format_money, summarize_step

CATALOG = build_catalog()
INVOICE = {"customer": "cus_9s6XKzkNRiz8i3", "lines": [{"amount": 12000, "currency": "usd", "description": "Pro plan"}]}


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (12000, "usd", "$120.00 USD"), (123456789, "eur", "€1,234,567.89 EUR"), (500, "jpy", "¥500 JPY"),
    (1500, "kwd", "1.500 KWD"), ("12.5", "USD", "$12.50 USD"), (12.5, "usd", "$12.50 USD"), (-250, "gbp", "-£2.50 GBP"),
    (True, "usd", None),
    ("nan", "usd", None), ("lots", "usd", None), (100, "dollars", None),
])
def test_amounts_read_with_their_currency(amount: Any, currency: str, shown: str | None) -> None:
    assert format_money(amount, currency) == shown


def test_an_invoice_in_words() -> None:
    summary = summarize_step("stripe.create_invoice", INVOICE, CATALOG)
    assert summary.headline == "Create and finalize a Stripe invoice · $120.00 USD · customer cus_9s6XKzkNRiz8i3"
    assert summary.amounts == ["$120.00 USD (Pro plan)"]
    assert summary.details == [("Customer", "cus_9s6XKzkNRiz8i3")]
    assert summary.does.startswith("stripe.create_invoice (compensable): if the saga fails after it, it is undone:")


def test_several_lines_show_each_and_their_total() -> None:
    lines = [{"amount": 12000, "currency": "usd", "description": "Pro plan"},
             {"amount": 550, "currency": "usd", "description": "Seats"}]
    summary = summarize_step("stripe.create_invoice", {**INVOICE, "lines": lines}, CATALOG)
    assert summary.amounts == ["$120.00 USD (Pro plan)", "$5.50 USD (Seats)", "total $125.50 USD"]
    assert "· $125.50 USD ·" in summary.headline


def test_what_cannot_be_undone_says_so_and_a_plugin_action_gets_the_generic_summary() -> None:
    post = summarize_step("slack.post_message", {"channel": "C024BE91L", "text": "Invoice INV-1 is on its way"},
                          CATALOG)
    assert post.headline == "Post a Slack message · channel C024BE91L"
    assert ("Message", "Invoice INV-1 is on its way") in post.details and "cannot be undone" in post.does
    refund = summarize_step("shopify.refund", {"order": "gid://shopify/Order/1", "amount": "12.50",
                                               "currency": "USD"}, CATALOG)
    assert refund.headline == "Refund a Shopify order · $12.50 USD · order gid://shopify/Order/1"
    assert "retried until it succeeds; it is not undone" in refund.does

    plugin = summarize_step("acme.open_ticket", {"amount": 4200, "currency": "gbp", "email": "ada@example.com"},
                            CATALOG)
    assert plugin.headline == "Acme: open ticket · £42.00 GBP · email ada@example.com"
    assert "does not know" in plugin.does


def test_every_built_in_action_has_a_phrase_and_pending_approvals_get_summaries() -> None:
    assert sorted(PHRASES) == sorted(name for name in CATALOG if "." in name and CATALOG.sources.get(name, "built-in")
                                     == "built-in")
    items: list[Any] = [{"action": "stripe.create_invoice", "params": INVOICE}, {"action": 3}, None]
    add_summaries(items, CATALOG)
    assert items[0]["summary"]["amounts"] == ["$120.00 USD (Pro plan)"] and "summary" not in items[1]
