"""Strings that try to take over a terminal: rich markup, ANSI and OSC escapes, C0 and C1
controls, carriage return, backspace, NUL, bidi overrides. Each piece is its own word, so that a
table folding long words still shows every piece whole."""

from typing import Any

from pydantic import BaseModel

from pivot.compensations.actions import Action, CompensationReport
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind

MARKUP = "[/]x [red]red[/red] [link=https://evil.example]click[/link] [bold"
ESCAPES = "\x1b[2J \x1b]0;pwned\x07 \x9b31m \r \b \x00 \x7f \u202eevil\u202c \u2066iso\u2069"
HOSTILE = f"{MARKUP} {ESCAPES}"

SHOWN = ("[/]x", "[red]red[/red]", "\\x1b[2J", "\\x9b31m")
"""How the pieces look once escaped: the markup literally, the controls as visible escapes."""


def actions() -> list[Action]:
    """A catalog plugin (PIVOT_CATALOG_PLUGINS) whose own descriptions are hostile: `pivot actions`
    prints a plugin's words, so they are data too."""

    async def forward(params: Any, keys: StepKeys) -> dict[str, Any]:
        raise AssertionError("never run: this action only exists to be listed")

    async def compensate(params: Any, keys: StepKeys, result: dict[str, Any] | None) -> CompensationReport:
        raise AssertionError("never run")

    return [Action(name="testkit.hostile", kind=StepKind.COMPENSABLE, params=BaseModel, forward=forward,
                   compensate=compensate, key_carrier=HOSTILE, readback=HOSTILE, compensation=HOSTILE,
                   describe=lambda r: HOSTILE, not_run=HOSTILE)]
