"""The local stack's approvers and their tokens: random, made on first start, kept private.

Fixed tokens in the source (`finance-local-token`) were a guessable credential for anyone who
could reach the ingress or the approval page. Now `pivot dev` makes a random token per approver
the first time it starts, keeps them in its state folder in a file only its user can read
(mode 0600), and prints where; the service gets them as `PIVOT_APPROVERS`.
"""

import os
import secrets
from pathlib import Path

from pivot.compensations.approvals import parse_approver_tokens

LOCAL_APPROVER_NAMES = ("finance", "ops")
HEADER = ("# Pivot's local approvers, name:token, one per line (made by `pivot dev` on first start).\n"
          "# Keep this file private (mode 0600). The service reads them as PIVOT_APPROVERS.\n")


def write_approver_tokens(path: Path, tokens: dict[str, str]) -> None:
    """Create `path` (mode 0600 from the start: never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(HEADER + "".join(f"{name}:{token}\n" for name, token in tokens.items()))


def read_approver_tokens(path: Path) -> dict[str, str]:
    """name → token, from a file of `name:token` lines (comments start with #)."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return parse_approver_tokens(",".join(lines))


def local_approver_names(path: Path | None = None) -> frozenset[str] | None:
    """The local stack's approver names (never their tokens), or None when it has not run here;
    by default from the state folder `pivot dev` uses (`PIVOT_STATE_DIR`, else `.restate/`)."""
    from pivot.services.local.stack_file import state_dir  # stack_file reads tokens with this module

    path = path or state_dir() / "approvers"
    return frozenset(read_approver_tokens(path)) if path.is_file() else None


def ensure_approver_tokens(path: Path, names: tuple[str, ...] = LOCAL_APPROVER_NAMES) -> dict[str, str]:
    """The tokens in `path`, creating the file with a fresh random token per name if it is missing."""
    if not path.exists():
        write_approver_tokens(path, {name: secrets.token_urlsafe(24) for name in names})
    os.chmod(path, 0o600)  # an older or copied file: private again
    return read_approver_tokens(path)
