"""`pivot doctor` and `pivot setup`: the provider accounts as the sagas will use them.

Both go through the same clients and the same connections as the sagas (`pivot.services.catalog`,
`providers/connections.py`), so what doctor checks is what a step will meet. Each provider's
`Account` (providers/<provider>/account.py) knows what to look at; this module picks the
providers and connections, runs them, and prints one line per check or setup step.
"""

import argparse
import asyncio
import importlib
import json
import os
from collections.abc import Iterable
from typing import Any

from rich.console import Console

from pivot.compensations.connections import DEFAULT_CONNECTION, using_connection
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers import connections as named
from pivot.providers.account_kit import Account, Check, SetupStep
from pivot.providers.redaction import redact_data
from pivot.services.catalog import CREDENTIAL_ENV, Clients, build_clients
from pivot.services.cli.local_stack import environment, local_stack_of, stack_provider_environment
from pivot.services.terminal_text import markup

PROVIDERS = ("stripe", "hubspot", "slack", "salesforce", "shopify", "resend", "postgres")
ACCOUNT_CLASSES = {"stripe": "StripeAccount", "hubspot": "HubSpotAccount", "slack": "SlackAccount",
                   "salesforce": "SalesforceAccount", "shopify": "ShopifyAccount",
                   "resend": "ResendAccount", "postgres": "PostgresAccount"}


def account(provider: str, clients: Clients, options: argparse.Namespace) -> Account:
    """The provider's `Account` over the client the sagas use."""
    module = importlib.import_module(f"pivot.providers.{provider}.account")
    cls = getattr(module, ACCOUNT_CLASSES[provider])
    client = getattr(clients, provider)
    if provider == "salesforce" and getattr(options, "sobjects", None):
        return cls(client, sobjects=[s.strip() for s in options.sobjects.split(",") if s.strip()])  # type: ignore[no-any-return]
    return cls(client)  # type: ignore[no-any-return]


def configured(providers: Iterable[str], only: str | None) -> list[tuple[str, str]]:
    """(provider, connection) pairs to look at: a provider's default connection when its credential
    is set (or when it was asked for by name), and every named connection."""
    table = named.load()
    pairs: list[tuple[str, str]] = []
    for provider in providers:
        credential_env = os.environ.get(f"PIVOT_{provider.upper()}_CREDENTIAL_ENV", CREDENTIAL_ENV[provider])
        if only in (None, DEFAULT_CONNECTION) and os.environ.get(credential_env):
            pairs.append((provider, DEFAULT_CONNECTION))
        pairs += [(provider, name) for name in sorted(table.get(provider, {})) if only in (None, name)]
    return pairs


async def _doctor(pairs: list[tuple[str, str]], options: argparse.Namespace) -> list[Check]:
    clients = build_clients()
    found: list[Check] = []
    for provider, connection in pairs:
        with using_connection(connection):
            checks = await account(provider, clients, options).checks()
        found += [c.model_copy(update={"connection": connection}) for c in checks]
    return found


async def _setup(pairs: list[tuple[str, str]], options: argparse.Namespace) -> tuple[list[SetupStep], list[str]]:
    """What setup did, and why it could not go on where it could not (no credential, a refused
    token, an unreachable API: `pivot doctor` says more)."""
    clients = build_clients()
    done: list[SetupStep] = []
    failures: list[str] = []
    for provider, connection in pairs:
        try:
            with using_connection(connection):
                steps = await account(provider, clients, options).setup(dry_run=options.dry_run)
        except ProviderRejected as refused:
            failures.append(f"{provider}/{connection}: {refused.info.message}")
            continue
        except ProviderUnavailable as unavailable:
            failures.append(f"{provider}/{connection}: {unavailable.message}")
            continue
        done += [s.model_copy(update={"connection": connection}) for s in steps]
    return done, failures


def cmd_doctor(console: Console, args: argparse.Namespace) -> int:
    """Check what is configured; a provider nothing configures is checked against the running local
    stack's sandbox (said on stderr). With nothing at all to check, say so and fail."""
    providers = [args.provider] if args.provider else list(PROVIDERS)
    with environment(stack_provider_environment(local_stack_of(args), providers)):
        return _doctor_report(console, args, providers)


def _doctor_report(console: Console, args: argparse.Namespace, providers: list[str]) -> int:
    pairs = configured(providers, args.connection)
    if not pairs and not args.provider:
        return _nothing_configured(console, args, providers)
    if args.provider and not pairs:
        pairs = [(args.provider, args.connection or DEFAULT_CONNECTION)]  # asked for by name: say what is wrong
    skipped = [p for p in providers if all(p != q for q, _ in pairs)]
    checks = asyncio.run(_doctor(pairs, args))
    problems = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps({"ok": not problems, "checks": [redact_data(c.model_dump()) for c in checks],
                          "not_configured": skipped}, indent=2))
    else:
        for check in checks:
            mark = "[green]ok[/]     " if check.ok else "[red]problem[/]"
            console.print(markup(mark + " {}/{} {} {}", check.provider, f"{check.connection:<8}", f"{check.name:<13}",
                                 check.detail))
            if not check.ok and check.fix:
                console.print(markup("        [dim]fix:[/] {}", check.fix))
        for provider in skipped:
            console.print(markup("[dim]skipped {}: not configured ({} is not set)[/]", provider,
                                 CREDENTIAL_ENV[provider]))
        verdict = markup("[red]{} problem(s)[/]", len(problems)) if problems else markup("[green]all checks passed[/]")
        console.print(verdict + markup(" ({} checks, {} connections)", len(checks),
                                       len({(c.provider, c.connection) for c in checks})))
    return 1 if problems else 0


def _nothing_configured(console: Console, args: argparse.Namespace, providers: list[str]) -> int:
    """Nothing to check is not "all checks passed": say what is missing and how to get it, exit 1."""
    _, stack = local_stack_of(args).status
    message = (f"nothing to check: no provider credential is set ({', '.join(CREDENTIAL_ENV[p] for p in providers)}), "
               f"no named connection is configured, and {stack}. Start the local stack with `pivot dev` "
               "(its sandboxes are then checked), or export your accounts' credentials (README: Connect your accounts)")
    if args.json:
        print(json.dumps({"ok": False, "checks": [], "not_configured": providers,
                          "error": {"code": "nothing_configured", "message": message}}, indent=2))
    else:
        console.print(markup("[red]{}[/]", message), soft_wrap=True)
    return 1


def cmd_setup(console: Console, args: argparse.Namespace) -> int:
    with environment(stack_provider_environment(local_stack_of(args), [args.provider])):
        return _setup_report(console, args)


def _setup_report(console: Console, args: argparse.Namespace) -> int:
    pairs = [(args.provider, args.connection or DEFAULT_CONNECTION)]
    steps, failures = asyncio.run(_setup(pairs, args))
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "steps": [redact_data(s.model_dump()) for s in steps],
                          "errors": redact_data(failures)}, indent=2))
        return 1 if failures else 0
    styles = {"exists": "[dim]exists[/]      ", "created": "[green]created[/]     ",
              "would create": "[yellow]would create[/]", "manual": "[magenta]by hand[/]     "}
    for step in steps:
        console.print(markup(styles[step.state] + " {}/{} {}{}", step.provider, step.connection, step.what,
                             f" — {step.detail}" if step.detail else ""))
    for failure in failures:
        console.print(markup("[red]could not set up[/] {} — run `pivot doctor` for the details", failure))
    if args.dry_run:
        console.print(markup("[dim]dry run: nothing was changed[/]"))
    return 1 if failures else 0


def add_commands(sub: Any, console: Console) -> None:
    doctor = sub.add_parser("doctor", help="check every configured provider account and connection")
    doctor.add_argument("provider", nargs="?", choices=PROVIDERS, help="only this provider")
    doctor.add_argument("--connection", help="only this connection (default: all)")
    doctor.add_argument("--sobjects", help="Salesforce: the sObjects to check (comma-separated)")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=lambda args: cmd_doctor(console, args))

    setup = sub.add_parser("setup", help="create what Pivot's key carriers need in a provider account")
    setup.add_argument("provider", choices=PROVIDERS)
    setup.add_argument("--connection", help="which account (a named connection; default: default)")
    setup.add_argument("--sobjects", help="Salesforce: the sObjects to set up (comma-separated)")
    setup.add_argument("--dry-run", action="store_true", help="say what would be done and change nothing")
    setup.add_argument("--json", action="store_true")
    setup.set_defaults(func=lambda args: cmd_setup(console, args))
