"""Everything Restate stored, as text to search: the journal (byte-array payloads decoded), state,
invocations, and the stack's logs. The security tests look for secrets in it (the reading itself is
`pivot conformance`'s, services/conformance/stored.py)."""

from pivot.services.admin import AdminClient
from pivot.services.conformance.stored import Stored, bytes_inside, read_stored
from pivot.services.local.stack import Stack

__all__ = ["Stored", "admin_query", "bytes_inside", "stored"]


def admin_query(admin_url: str, sql: str) -> list[dict[str, object]]:
    """Rows of a SQL query on Restate's admin API (`POST /query`)."""
    with AdminClient(admin_url, timeout_s=60) as admin:
        return admin.query(sql)


def stored(stack: Stack) -> Stored:
    return read_stored(stack.admin_url, stack.log_dir)
