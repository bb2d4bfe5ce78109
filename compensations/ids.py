"""The ids a caller chooses — run ids and step ids — and the one check every entry point uses.

Both become part of idempotency keys, Restate keys, URL path segments, approval ids
(`<run_id>~<step_id>`) and `$from` paths (`<step_id>.<field>`), and they are printed by the
CLI. So their alphabet is small and fixed here, once: HTTP handlers, the CLI and the MCP
tools all check against these patterns, and an id that does not match is refused before
anything is recorded (`.` or `..` as a run id would otherwise walk URL paths).

A step id has no `.` (it starts a `$from` path) and starts with a letter; a run id may also
hold `.` and `:` (`user:42:task-7`, dotted versions) but must start with a letter or digit,
so `.` and `..` are never run ids. Neither may hold `~`, which joins them into approval ids.
"""

import re

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
STEP_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
APPROVAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}~[A-Za-z][A-Za-z0-9_-]{0,62}$"

RUN_ID_RULE = "1-128 characters: letters, digits, '.', '_', ':', '-', starting with a letter or digit"
STEP_ID_RULE = "1-63 characters: letters, digits, '_', '-', starting with a letter"

_RUN_ID = re.compile(RUN_ID_PATTERN)
_STEP_ID = re.compile(STEP_ID_PATTERN)
_APPROVAL_ID = re.compile(APPROVAL_ID_PATTERN)


class InvalidId(ValueError):
    """An id outside its alphabet; the message names the id (shortened, repr'd) and the rule, and
    `field` which id it is (`run_id`, `step_id`, `approval_id`)."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


def check_run_id(value: str) -> str:
    if not _RUN_ID.fullmatch(value):
        raise InvalidId(f"run id {_shown(value)} is not valid: {RUN_ID_RULE}", "run_id")
    return value


def check_step_id(value: str) -> str:
    if not _STEP_ID.fullmatch(value):
        raise InvalidId(f"step id {_shown(value)} is not valid: {STEP_ID_RULE}", "step_id")
    return value


def check_approval_id(value: str) -> str:
    if not _APPROVAL_ID.fullmatch(value):
        raise InvalidId(f"approval id {_shown(value)} is not valid: <run id>~<step id>", "approval_id")
    return value
