"""A Salesforce record as the actions see it: named in results and sentences, and compared with
what a step wrote (the comparison is `values.py`'s, so that Salesforce's canonical forms pass)."""

from typing import Any

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kit import Mismatch
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.values import differing


def record_ref(sobject: str, record_id: str) -> str:
    """The `ref` of a verified result: "salesforce:Account/001…"."""
    return f"salesforce:{sobject}/{record_id}"


def record_name(result: JsonDict) -> str:
    """"Salesforce Account 001…", for the summary's sentences."""
    return f"Salesforce {result['sobject']} {result['id']}"


def check_holds(sobject: str, record_id: str, expected: dict[str, Any], record: dict[str, Any]) -> None:
    """Raise `Mismatch` unless the record holds every expected value (naming the fields that differ)."""
    wrong = differing(expected, record)
    if wrong:
        raise Mismatch(f"Salesforce {sobject} {record_id} does not hold what was written ({', '.join(sorted(wrong))})",
                       expected={name: expected[name] for name in wrong}, actual=wrong)


async def read_and_check(client: SalesforceClient, sobject: str, record_id: str, expected: dict[str, Any]) -> None:
    """GET the record with exactly these fields and check each one; for writes outside a step's
    forward (an undo's restore), where a mismatch is terminal as it is."""
    record = await client.get_record(sobject, record_id, ["Id", *expected])
    if record is None:
        raise ProviderRejected("readback_mismatch", f"Salesforce {sobject} {record_id} is gone after the write")
    try:
        check_holds(sobject, record_id, expected, record)
    except Mismatch as mismatch:
        raise ProviderRejected("readback_mismatch", mismatch.message,
                               {"expected": mismatch.expected, "actual": mismatch.actual}) from None
