"""Reading a Salesforce record back after a write, and naming it in results and sentences."""

from typing import Any

from pivot.compensations.errors import ProviderRejected
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.salesforce.values import current_values, differing


def record_ref(sobject: str, record_id: str) -> str:
    """The `ref` of a verified result: "salesforce:Account/001…"."""
    return f"salesforce:{sobject}/{record_id}"


async def read_and_verify(
    client: SalesforceClient,
    sobject: str,
    record_id: str,
    planned: dict[str, Any],
    *,
    key: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """GET the record with exactly the planned fields (and the key field) and check each one.

    Returns Salesforce's own form of the planned values: the result records what the provider
    holds, not what the plan asked for. A missing record or any differing field is terminal.
    """
    expected = dict(planned)
    if key is not None:
        expected[key[0]] = key[1]
    record = await client.get_record(sobject, record_id, ["Id", *expected])
    if record is None:
        raise ProviderRejected("readback_mismatch", f"Salesforce {sobject} {record_id} is gone after the write")
    wrong = differing(expected, record)
    if wrong:
        raise ProviderRejected(
            "readback_mismatch",
            f"Salesforce {sobject} {record_id} does not hold what was written ({', '.join(sorted(wrong))})",
            {"expected": {name: expected[name] for name in wrong}, "actual": wrong},
        )
    return current_values(planned, record)
