"""Everything Restate stored and every log line, as text to search for a credential.

A secret returned once from a journaled step, put in state or logged is kept for good, so
conformance (and the security tests) read it all back: the journal through the admin API's SQL
(`sys_journal`, payloads are byte arrays, decoded here), state (`state`), the invocations
(`sys_invocation`, which keep request headers), and the log files of the stack's processes.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pivot.services.admin import AdminClient


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
    logs: dict[str, str]
    """Log file name → its text."""

    def texts(self) -> list[str]:
        return [json.dumps(self.journal), *self.decoded, json.dumps(self.state), json.dumps(self.invocations),
                *self.logs.values()]

    def containing(self, secrets: Iterable[str]) -> list[str]:
        """The secrets found anywhere in it."""
        texts = self.texts()
        return [secret for secret in secrets if any(secret in text for text in texts)]

    def places(self, secret: str) -> list[str]:
        """Where a secret was found, in words (never the secret)."""
        found = []
        if secret in json.dumps(self.journal) or any(secret in text for text in self.decoded):
            found.append("the journal")
        if secret in json.dumps(self.state):
            found.append("state")
        if secret in json.dumps(self.invocations):
            found.append("the invocations table")
        found += [f"log {name}" for name, text in self.logs.items() if secret in text]
        return found

    def size(self) -> str:
        return (f"{len(self.journal)} journal entries, {len(self.state)} state values, "
                f"{len(self.invocations)} invocations, {len(self.logs)} log files")


def read_stored(admin_url: str, log_dir: Path) -> Stored:
    with AdminClient(admin_url, timeout_s=60) as admin:
        journal = admin.query("SELECT entry_json FROM sys_journal")
        state = admin.query("SELECT value_utf8 FROM state")
        invocations = admin.query("SELECT * FROM sys_invocation")
    return Stored(
        journal=journal,
        decoded=[bytes_inside(json.loads(str(row["entry_json"]))) for row in journal if row.get("entry_json")],
        state=state,
        invocations=invocations,
        logs={path.name: path.read_text(errors="replace") for path in sorted(log_dir.glob("*.log"))},
    )
