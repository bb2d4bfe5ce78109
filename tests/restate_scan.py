"""Everything Restate stored, as text to search: the journal (byte-array payloads decoded), state,
invocations, and the stack's logs. The security tests look for secrets in it."""

import json
from dataclasses import dataclass

import httpx

from pivot.services.local.stack import Stack


def admin_query(admin_url: str, sql: str) -> list[dict[str, object]]:
    """Rows of a SQL query on Restate's admin API (`POST /query`)."""
    response = httpx.post(f"{admin_url}/query", json={"query": sql}, headers={"accept": "application/json"},
                          timeout=60)
    response.raise_for_status()
    rows = response.json()["rows"]
    assert isinstance(rows, list)
    return rows


def bytes_inside(value: object) -> str:
    """Every byte array (list of ints) inside a journal entry, decoded, joined."""
    if isinstance(value, list) and value and all(isinstance(v, int) and 0 <= v < 256 for v in value):
        return bytes(value).decode(errors="replace")
    if isinstance(value, list):
        return "\n".join(bytes_inside(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(bytes_inside(v) for v in value.values())
    return str(value)


@dataclass(frozen=True)
class Stored:
    journal: list[dict[str, object]]
    decoded: list[str]
    """Each journal entry's payloads (`"value": [123, 34, …]`) as text."""
    state: list[dict[str, object]]
    invocations: list[dict[str, object]]
    logs: list[str]

    def texts(self) -> list[str]:
        return [json.dumps(self.journal), *self.decoded, json.dumps(self.state), json.dumps(self.invocations),
                *self.logs]

    def containing(self, secrets: list[str]) -> list[str]:
        """The secrets found anywhere in it."""
        texts = self.texts()
        return [secret for secret in secrets if any(secret in text for text in texts)]


def stored(stack: Stack) -> Stored:
    journal = admin_query(stack.admin_url, "SELECT entry_json FROM sys_journal")
    return Stored(
        journal=journal,
        decoded=[bytes_inside(json.loads(str(row["entry_json"]))) for row in journal if row.get("entry_json")],
        state=admin_query(stack.admin_url, "SELECT value_utf8 FROM state"),
        invocations=admin_query(stack.admin_url, "SELECT * FROM sys_invocation"),
        logs=[path.read_text(errors="replace") for path in stack.log_dir.glob("*.log")],
    )
