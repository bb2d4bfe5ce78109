"""The account object (`GET /v1/account`): who the key belongs to, as Stripe describes it.

`pivot doctor` reads it for the account id and whether charges are enabled. The object follows
the `account` schema of the 2023-08-16 spec (a standard account in the US, activated, test mode);
it is constant: nothing in the catalog changes an account.
"""

from __future__ import annotations

from pivot.providers.stripe.sandbox.common import JsonDict, StripeCall
from pivot.providers.stripe.sandbox.forms import EXPAND, Params

ACCOUNT_ID = "acct_1PivotSandbox01"
DISPLAY_NAME = "Pivot Sandbox"
CREATED = 1_700_000_000


def account_object() -> JsonDict:
    """A fresh copy of the sandbox's account, in the spec's shape."""
    empty_requirements: JsonDict = {
        "alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
        "errors": [], "eventually_due": [], "past_due": [], "pending_verification": [],
    }
    return {
        "id": ACCOUNT_ID,
        "object": "account",
        "business_profile": {
            "mcc": "5734", "name": DISPLAY_NAME, "product_description": None, "support_address": None,
            "support_email": "support@example.com", "support_phone": None, "support_url": None,
            "url": "https://example.com",
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "country": "US",
        "created": CREATED,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "ops@example.com",
        "future_requirements": dict(empty_requirements),
        "metadata": {},
        "payouts_enabled": True,
        "requirements": dict(empty_requirements),
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": False},
                              "statement_descriptor_prefix": "PIVOT", "statement_descriptor_prefix_kana": None,
                              "statement_descriptor_prefix_kanji": None},
            "dashboard": {"display_name": DISPLAY_NAME, "timezone": "Etc/UTC"},
            "payments": {"statement_descriptor": "PIVOT SANDBOX", "statement_descriptor_kana": None,
                         "statement_descriptor_kanji": None},
            "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 2, "interval": "daily"},
                        "statement_descriptor": None},
        },
        "tos_acceptance": {"date": CREATED, "ip": None, "user_agent": None},
        "type": "standard",
    }


def get_account(call: StripeCall) -> tuple[int, JsonDict]:
    Params(call.params, EXPAND)
    return 200, account_object()
