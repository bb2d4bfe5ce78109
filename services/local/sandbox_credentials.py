"""What `pivot dev` says about its sandboxes' credentials: the lines to paste into another shell.

The sandboxes accept only the local stack's fake credentials (`stack.LOCAL_CREDENTIALS`), as a
real provider accepts only the keys it issued. So `pivot doctor`, `pivot setup` or a handler of
the user's own reach them only with those values and the sandboxes' base URLs, and `pivot dev`
prints both. Printing them is safe because they are local fakes that no real provider accepts;
they still never enter the service's journal, state or logs (tests/test_security.py looks).
"""

import shlex
from collections.abc import Mapping

from rich.console import Console

from pivot.services.catalog import CREDENTIAL_ENV
from pivot.services.local.stack import LOCAL_CREDENTIALS

HEADING = "sandbox credentials (local fakes, accepted only by these sandboxes; for pivot doctor or your own handler):"


def sandbox_exports(sandbox_urls: Mapping[str, str],
                    credentials: Mapping[str, str] = LOCAL_CREDENTIALS) -> list[str]:
    """One `export` line per sandbox: the credential the service reads (by its variable), and
    where the sandbox answers."""
    lines = []
    for provider, url in sandbox_urls.items():
        variable = CREDENTIAL_ENV[provider]
        lines.append(f"export {variable}={shlex.quote(credentials.get(variable, ''))} "
                     f"PIVOT_{provider.upper()}_BASE_URL={shlex.quote(url)}")
    return lines


def print_sandbox_credentials(console: Console, sandbox_urls: Mapping[str, str]) -> None:
    """The heading and the export lines, printed verbatim (never read as rich markup)."""
    console.print(f"  {HEADING}", highlight=False, markup=False, soft_wrap=True)
    for line in sandbox_exports(sandbox_urls):
        console.print(f"    {line}", highlight=False, markup=False, soft_wrap=True)
