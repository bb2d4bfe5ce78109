"""The real `pivot` CLI as a user runs it, and what its output may never hold.

The CLI runs as a subprocess (`python -m pivot.services.cli …`) against the test stack, so a crash is a
non-zero exit with a traceback on stderr, exactly what a user would see.
"""

import os
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pivot.services.local.stack import Stack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(stack: Stack, *args: str, env: dict[str, str] | None = None) -> CliRun:
    """`pivot ARGS` against the test stack, without colour (a pipe), as a user's shell would."""
    base = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE"}}
    full_env = {**base, "PIVOT_INGRESS_URL": stack.ingress_url, "PIVOT_ADMIN_URL": stack.admin_url,
                "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
    done = subprocess.run([sys.executable, "-m", "pivot.services.cli", *args], cwd=PROJECT_ROOT, env=full_env,
                          capture_output=True, timeout=120, check=False)
    return CliRun(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def unsafe_characters(text: str) -> list[str]:
    """Every character in `text` a terminal would act on instead of showing: C0 controls but the
    newline, DEL and C1 controls, line and paragraph separators, bidi controls."""
    return sorted({f"U+{ord(ch):04X}" for ch in text
                   if ch != "\n" and (ch in BIDI_CONTROLS or unicodedata.category(ch) in {"Cc", "Zl", "Zp"})})


def assert_shown_safely(run: CliRun, code: int = 0) -> None:
    """The command ended as expected (no crash) and printed nothing a terminal would interpret."""
    assert run.code == code, run.output
    assert "Traceback" not in run.output, run.output
    assert unsafe_characters(run.output) == [], run.output
