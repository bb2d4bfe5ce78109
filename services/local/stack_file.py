"""`.restate/stack.json`: where the running local stack answers, for every command that needs it.

`pivot dev` picks its ports (fixed by default, free ones with `--ports free`) and the credentials
its sandboxes accept; before this file, only its terminal said them, so `pivot doctor`, `pivot
status`, `pivot mcp`, the examples and a user's own handler each needed them pasted in. Now the
stack writes them here once it is ready (mode 0600: the file holds credentials, even if local
fakes), and removes the file when it stops. A reader trusts the file only while the process that
wrote it still runs (its pid and that process's start time), so a stack killed with -9 leaves a
file nobody follows.

The state folder is the project's `.restate/` (where the approver tokens, the identity key, the
data and the logs live), or `$PIVOT_STATE_DIR`: `pivot dev` and its readers find it the same way.
What a user configured (a flag, an environment variable) always wins over the file.
"""

import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, ConfigDict, ValidationError

from pivot.services.admin import DEFAULT_ADMIN
from pivot.services.local.approver_tokens import read_approver_tokens
from pivot.services.local.processes import start_ticks
from pivot.services.local.restate_binary import PROJECT_ROOT

STATE_DIR_ENV = "PIVOT_STATE_DIR"
DEFAULT_INGRESS = "http://127.0.0.1:8080"
FILE_NAME = "stack.json"


def state_dir() -> Path:
    """The local stack's state folder: `$PIVOT_STATE_DIR`, else the project's `.restate/`."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override).expanduser().absolute() if override else PROJECT_ROOT / ".restate"


class StackInfo(BaseModel):
    """What a running `pivot dev` tells the commands around it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pid: int
    """The process running the stack (`pivot dev`, or a test fixture)."""
    pid_start: int | None = None
    """That process's start time (clock ticks since boot): a later process with the same pid is not it."""
    ingress: str
    admin: str
    service: str
    approvals: str
    mcp: str | None = None
    mcp_token_required: bool = False
    sandboxes: dict[str, str]
    """provider → the sandbox's base URL (what `PIVOT_<PROVIDER>_BASE_URL` would say)."""
    credentials: dict[str, str]
    """credential variable (`STRIPE_API_KEY`, …) → the local fake the sandbox accepts."""
    approvers: list[str]
    approvers_file: str
    logs: str
    processes: dict[str, int]
    """Each child process the stack started, by name → pid."""
    postgres_dsn: str | None = None
    """The local PostgreSQL as the service has it (`PIVOT_POSTGRES_DSN`; carries its password: this
    file is 0600)."""

    def still_running(self) -> bool:
        ticks = start_ticks(self.pid)
        return ticks is not None and (self.pid_start is None or ticks == self.pid_start)


def write_stack_file(path: Path, info: StackInfo) -> None:
    """Replace `path` atomically with `info`, private to this user from its first byte (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)  # an older partial file left with other bits
        file.write(json.dumps(info.model_dump(mode="json"), indent=2) + "\n")
    os.replace(partial, path)


def remove_stack_file(path: Path, pid: int) -> None:
    """Remove `path` if the stack of process `pid` wrote it (never another stack's file)."""
    found = read_stack_file(path)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_stack_file(path: Path) -> StackInfo | None:
    """The file's contents, or None when it is missing or not a stack file."""
    try:
        return StackInfo.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None


@dataclass(frozen=True)
class FoundStack:
    info: StackInfo
    path: Path


def stack_status(directory: Path | None = None) -> tuple[FoundStack | None, str]:
    """The running stack of the state folder, or None and why not (for a message to the user)."""
    path = (directory or state_dir()) / FILE_NAME
    if not path.exists():
        return None, f"no local stack is running ({path} does not exist: `pivot dev` writes it)"
    info = read_stack_file(path)
    if info is None:
        return None, f"{path} is not a stack file `pivot dev` wrote"
    if not info.still_running():
        return None, f"the local stack of {path} stopped (pid {info.pid} no longer runs)"
    return FoundStack(info, path), f"the local stack started by `pivot dev` ({path})"


def running_stack(directory: Path | None = None) -> FoundStack | None:
    return stack_status(directory)[0]


def approver_token(approvers_file: Path, name: str) -> str | None:
    """`name`'s token in the stack's approvers file, if it is there."""
    try:
        return read_approver_tokens(approvers_file).get(name)
    except (OSError, ValueError):
        return None


class LocalStack:
    """Values a command takes from the running local stack when nothing else configures them.

    The stack is looked up once, on first need; the first value taken from it is said on stderr
    (one line: where it came from), so output on stdout stays what the command prints."""

    def __init__(self, directory: Path | None = None, out: TextIO | None = None):
        self._directory = directory
        self._out = out
        self._said = False

    @cached_property
    def status(self) -> tuple[FoundStack | None, str]:
        """The running stack, or None, and a sentence saying which (or why none)."""
        return stack_status(self._directory)

    @property
    def found(self) -> FoundStack | None:
        return self.status[0]

    def say_used(self, detail: str = "") -> None:
        if self._said or self.found is None:
            return
        self._said = True
        print(f"using the local stack started by `pivot dev` ({self.found.path}){detail}",
              file=self._out or sys.stderr)

    def value(self, configured: str | None, env: str | None, pick: Callable[[StackInfo], str | None],
              fallback: str) -> str:
        """`configured` (a flag), else `$env`, else the stack's (said on stderr), else `fallback`."""
        if configured:
            return configured
        if env and os.environ.get(env):
            return os.environ[env]
        picked = pick(self.found.info) if self.found else None
        if picked:
            self.say_used()
            return picked
        return fallback

    def ingress_url(self, configured: str | None = None) -> str:
        return self.value(configured, "PIVOT_INGRESS_URL", lambda info: info.ingress, DEFAULT_INGRESS)

    def admin_url(self, configured: str | None = None) -> str:
        return self.value(configured, "PIVOT_ADMIN_URL", lambda info: info.admin, DEFAULT_ADMIN)


def ingress_url(configured: str | None = None) -> str:
    """Where Restate's ingress answers: `configured`, `$PIVOT_INGRESS_URL`, the local stack's, or
    the default port (what the examples and a user's script call)."""
    return LocalStack().ingress_url(configured)
