"""The CLI and the running local stack: addresses and credentials nobody had to paste.

Every command that talks to Restate (`run`, `status`, `step`, `list`, `journal`, `approvals`,
`mcp`…) takes the ingress and admin URLs from its flag, else `$PIVOT_INGRESS_URL` /
`$PIVOT_ADMIN_URL`, else the stack `pivot dev` started (its stack.json), else the default ports;
`pivot doctor` and `pivot setup` take the sandboxes' base URLs and credentials the same way, for
each provider nothing configures. A value taken from the stack is said on stderr, once.
`pivot env` prints the same values as `export` lines, for a shell or a handler of one's own.
"""

import argparse
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pivot.services.local.stack_file import LocalStack, approver_token

DEFAULT_STRIPE_SANDBOX = "http://127.0.0.1:9101"


def local_stack_of(args: argparse.Namespace) -> LocalStack:
    """The command's view of the local stack (one per command line, so it is said once)."""
    found = getattr(args, "local_stack", None)
    if not isinstance(found, LocalStack):
        found = LocalStack()
        args.local_stack = found
    return found


def fill_addresses(args: argparse.Namespace) -> None:
    """Fill the command's address options its user left unset (None) from the environment or the stack."""
    stack = local_stack_of(args)
    if getattr(args, "ingress", "") is None:
        args.ingress = stack.ingress_url()
    if getattr(args, "admin", "") is None:
        args.admin = stack.admin_url()
    if getattr(args, "stripe_sandbox", "") is None:
        args.stripe_sandbox = stack.value(None, None, lambda info: info.sandboxes.get("stripe"),
                                          DEFAULT_STRIPE_SANDBOX)


def credential_env(provider: str) -> str:
    """The variable the provider's credential is read from (`PIVOT_<P>_CREDENTIAL_ENV` renames it)."""
    from pivot.services.catalog import CREDENTIAL_ENV

    return os.environ.get(f"PIVOT_{provider.upper()}_CREDENTIAL_ENV", CREDENTIAL_ENV[provider])


def stack_provider_environment(stack: LocalStack, providers: list[str]) -> dict[str, str]:
    """The sandbox credential and base URL of each provider that neither a credential nor a base
    URL configures (what the user set always wins), from the running stack; said on stderr."""
    from pivot.services.catalog import CREDENTIAL_ENV

    if stack.found is None:
        return {}
    info = stack.found.info
    taken: dict[str, str] = {}
    used = []
    for provider in providers:
        variable, base_url = credential_env(provider), f"PIVOT_{provider.upper()}_BASE_URL"
        if os.environ.get(variable) or os.environ.get(base_url):
            continue
        credential, url = info.credentials.get(CREDENTIAL_ENV[provider]), info.sandboxes.get(provider)
        if credential and url:
            taken |= {variable: credential, base_url: url}
            used.append(provider)
    if "postgres" in providers and not os.environ.get(credential_env("postgres")) and info.postgres_dsn:
        taken[credential_env("postgres")] = info.postgres_dsn
        used.append("postgres")
    if used:
        stack.say_used(f" for {', '.join(used)}")
    return taken


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ while the block runs (the provider clients read it), then as before."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def approver_token_from_stack(args: argparse.Namespace, approver: str) -> str:
    """The approver's token from the running stack's approvers file ('' if it has none)."""
    stack = local_stack_of(args)
    if stack.found is None:
        return ""
    token = approver_token(Path(stack.found.info.approvers_file), approver) or ""
    if token:
        stack.say_used(f" for {approver}'s token ({stack.found.info.approvers_file})")
    return token


def env_lines(stack: LocalStack) -> list[str]:
    """`pivot env`: the running stack as lines a shell can `eval` (hints as comments)."""
    from pivot.services.local.sandbox_credentials import sandbox_exports

    assert stack.found is not None
    info, quote = stack.found.info, shlex.quote
    lines = [f"# the local stack started by `pivot dev` (pid {info.pid}, {stack.found.path})",
             f"export PIVOT_INGRESS_URL={quote(info.ingress)} PIVOT_ADMIN_URL={quote(info.admin)}"]
    lines += sandbox_exports(info.sandboxes, info.credentials)
    if info.postgres_dsn:
        lines.append(f"export PIVOT_POSTGRES_DSN={quote(info.postgres_dsn)}")
    lines.append(f"# approval page: {info.approvals}" + (f"; MCP (streamable HTTP): {info.mcp}" if info.mcp else ""))
    if info.approvers:
        first = info.approvers[0]
        lines += [f"# approvers {', '.join(info.approvers)}: tokens in {info.approvers_file} (mode 0600); to decide "
                  f"as {first} from a shell (the CLI reads the token from that file when PIVOT_APPROVER is set):",
                  f"#   export PIVOT_APPROVER={quote(first)} PIVOT_APPROVER_TOKEN=$(sed -n "
                  f"{quote(f's/^{first}://p')} {quote(info.approvers_file)})"]
    return lines


def cmd_env(args: argparse.Namespace) -> int:
    stack = local_stack_of(args)
    found, why = stack.status
    if found is None:
        print(f"pivot env: {why}; start it with `pivot dev` (or ./scripts/dev.sh)", file=sys.stderr)
        return 1
    print("\n".join(env_lines(stack)))
    return 0


def add_env_command(sub: Any) -> None:
    """Register `pivot env` on the CLI's subparsers."""
    env = sub.add_parser("env", help="print the running local stack's addresses and sandbox credentials as "
                                     "export lines (eval \"$(pivot env)\" in a shell, or for your own handler)")
    env.set_defaults(func=cmd_env)
