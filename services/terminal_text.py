"""Strings from plans, agents and providers, made safe to show on a terminal or in a log line.

Such a string is data, never instructions to the terminal or to rich: a HubSpot deal named
`[/]x` must print as `[/]x` (rich would read it as markup and crash), and an error message
holding `ESC[2J`, an OSC title sequence, a C1 control, a carriage return or a bidi override must
not clear the screen, retitle the window, overwrite the line before it or reverse what follows.

So every such string goes through `clean` (credentials redacted, control and bidi characters
shown as visible escapes such as `\\x1b` and `\\u202e`), and the CLI builds its output with
`text` (a rich `Text`, never parsed as markup) or `markup` (the renderer's own markup, with the
data put in its `{}` fields after parsing). Literal markup belongs only in a renderer's own strings.
"""

import re

from rich.text import Text

from pivot.providers.redaction import redact

_CONTROLS = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
"""DEL, C1 controls, line and paragraph separators, and the bidi marks, embeddings, overrides and
isolates that reorder what a terminal shows (C0 controls are added below)."""
_UNSAFE = re.compile(rf"[\x00-\x1f{_CONTROLS}]")
_UNSAFE_BUT_NEWLINE = re.compile(rf"[\x00-\x09\x0b-\x1f{_CONTROLS}]")
_FIELD = "\ue000"
"""A private-use character: where a value goes while a `markup` template is parsed."""
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def clean(value: object, *, keep_newlines: bool = False) -> str:
    """`value` as text that shows exactly what it holds: redacted, every control character made
    visible. Newlines stay only if asked for (a traceback's lines); in data a newline could fake
    a line of the program's own output."""
    return (_UNSAFE_BUT_NEWLINE if keep_newlines else _UNSAFE).sub(_visible, redact(str(value)))


def text(value: object, style: str = "") -> Text:
    """A data value as a rich `Text` cell or fragment: clean, styled, never parsed as markup."""
    return Text(clean(value), style=style)


def markup(template: str, *values: object) -> Text:
    """The renderer's own markup `template` with each `{}` filled by a data value, clean and styled
    as the template styles that place: `markup("[red]✗ {}[/] {}", step_id, message)`.

    The template is parsed with a placeholder in each field and the values are put in afterwards,
    so no value is ever parsed as markup (rich's `escape` alone cannot know what follows a value
    that ends in a backslash)."""
    shape = Text.from_markup(template.replace("{}", _FIELD))
    fields = [offset for offset, char in enumerate(shape.plain) if char == _FIELD]
    if len(fields) != len(values):
        raise ValueError(f"markup template has {len(fields)} fields for {len(values)} values: {template!r}")
    filled = Text(end=shape.end)
    data = iter(values)
    for piece in shape.divide(offset for field in fields for offset in (field, field + 1)):
        if piece.plain == _FIELD:
            value = text(next(data))
            for span in piece.spans:
                value.stylize(span.style)
            piece = value
        filled.append_text(piece)
    return filled
