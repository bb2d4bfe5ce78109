"""Hostile strings from plans, agents and providers reach the terminal as data, never as markup
or control sequences: the real CLI renders `status`, `list`, `journal`, `approvals`, `actions`,
`step` and `check` for sagas full of them, without crashing, and shows them escaped."""

import io
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from pivot.services.logs import configure_logging
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.security.hostile import ESCAPES, HOSTILE, SHOWN
from tests.security.terminal import CliRun, assert_shown_safely, run_cli, unsafe_characters
from tests.test_approvals import decide

INVOICE_PARAMS = {"customer": DEMO_CUSTOMER, "lines": [{"amount": 4200, "currency": "usd", "description": HOSTILE}]}


def _shows_hostile_text(run: CliRun) -> None:
    assert_shown_safely(run)
    for piece in SHOWN:
        assert piece in run.stdout, (piece, run.stdout)


def _run_id(label: str) -> str:
    return f"hostile-{label}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def hostile_sagas(pivot: PivotClient, sandboxes: Sandboxes) -> dict[str, str]:
    """A committed saga whose provider answer is hostile (the deal's name, read back from HubSpot),
    and a compensated one whose provider error body is hostile (Stripe's message and param)."""
    committed = _run_id("deal")
    outcome = pivot.run(committed, {"steps": [{"id": "deal", "action": "hubspot.create_deal",
                                                "params": {"dealname": HOSTILE}}]})
    assert outcome["status"] == "committed" and HOSTILE in outcome["summary"], outcome

    compensated = _run_id("refused")
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=400, times=1,
                    body={"error": {"type": "invalid_request_error", "message": HOSTILE, "param": "lines"}})
    outcome = pivot.run(compensated, {"steps": [
        {"id": "deal", "action": "hubspot.create_deal", "params": {"dealname": HOSTILE}},
        {"id": "invoice", "action": "stripe.create_invoice", "pivot": True, "params": INVOICE_PARAMS}]})
    assert outcome["status"] == "compensated", outcome
    error = next(s for s in outcome["steps"] if s["id"] == "invoice")["error"]
    assert ESCAPES in error["message"], error  # the provider's words really are in the outcome
    return {"committed": committed, "compensated": compensated}


def test_status_shows_hostile_provider_answers_and_errors_escaped(stack: Stack,
                                                                   hostile_sagas: dict[str, str]) -> None:
    for run_id in hostile_sagas.values():
        _shows_hostile_text(run_cli(stack, "status", run_id))


def test_service_log_lines_show_hostile_strings_escaped(stack: Stack, hostile_sagas: dict[str, str]) -> None:
    lines = [line for line in (stack.log_dir / "service.log").read_text(errors="replace").split("\n")
             if hostile_sagas["compensated"] in line]
    assert any("[/]x" in line for line in lines), lines
    assert unsafe_characters("\n".join(lines)) == [], lines


def test_list_and_journal_show_hostile_strings_escaped(stack: Stack, hostile_sagas: dict[str, str]) -> None:
    listing = run_cli(stack, "list")
    assert_shown_safely(listing)
    assert "[/]x" in listing.stdout and hostile_sagas["compensated"] in listing.stdout

    _shows_hostile_text(run_cli(stack, "journal", hostile_sagas["compensated"]))


def test_approvals_show_a_hostile_reason_escaped(stack: Stack, pivot: PivotClient) -> None:
    run_id = _run_id("gate")
    pivot.submit(run_id, {"steps": [{"id": "deal", "action": "hubspot.create_deal", "params": {"dealname": HOSTILE},
                                     "approval": {"approvers": ["finance"], "timeout": "P1D", "reason": HOSTILE}}]})
    wait_until(lambda: pivot.status(run_id)["status"] == "waiting_approval", timeout_s=60, what="the saga to park")
    try:
        listed = run_cli(stack, "approvals", env={"PIVOT_APPROVER": "finance",
                                                  "PIVOT_APPROVER_TOKEN": APPROVER_TOKENS["finance"]})
        _shows_hostile_text(listed)
        assert f"{run_id}~deal" in listed.stdout
    finally:
        decide(pivot, f"{run_id}~deal", approved=False, comment=HOSTILE)
    assert pivot.attach(run_id)["status"] != "waiting_approval"
    assert_shown_safely(run_cli(stack, "status", run_id))


def test_actions_show_a_plugins_hostile_words_escaped(stack: Stack) -> None:
    listed = run_cli(stack, "actions", env={"PIVOT_CATALOG_PLUGINS": "tests.security.hostile:actions"})
    _shows_hostile_text(listed)
    assert "testkit.hostile" in listed.stdout


def test_refusals_echoing_hostile_input_are_printed_escaped(stack: Stack, tmp_path: Path) -> None:
    """What Pivot answers when it refuses a call often quotes the call: that quote is data too."""
    refused = run_cli(stack, "step", _run_id("refused-step"), "s1", "hubspot.create_deal",
                      "--params", json.dumps({"dealname": HOSTILE, HOSTILE: 1}))
    assert_shown_safely(refused, code=2)  # refused, nothing recorded
    assert "[/]x" in refused.stdout

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"steps": [{"id": "deal", "action": "hubspot.create_deal",
                                           "params": {"dealname": HOSTILE, HOSTILE: 1}}]}))
    checked = run_cli(stack, "check", str(plan))
    assert_shown_safely(checked, code=2)  # an invalid plan
    assert "[/]x" in checked.stdout


# -- the helper itself (imported in each test: it is what this suite asks for) --------------------

def _printed(*renderables: Any) -> str:
    out = io.StringIO()
    console = Console(width=200, file=out)
    for renderable in renderables:
        console.print(renderable)
    return out.getvalue()


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("\x9b31m", "\\x9b31m"),
    ("a\rb", "a\\rb"),
    ("a\bb", "a\\x08b"),
    ("nul\x00", "nul\\x00"),
    ("del\x7f", "del\\x7f"),
    ("tab\tx", "tab\\tx"),
    ("\u202eevil\u202c", "\\u202eevil\\u202c"),
    ("\u2066iso\u2069 \u200f", "\\u2066iso\\u2069 \\u200f"),
    ("line\u2028sep", "line\\u2028sep"),
    ("two\nlines", "two\\nlines"),
    ("[/]x [red]r[/red]", "[/]x [red]r[/red]"),
    ("Grüße, 日本, emoji 🙂", "Grüße, 日本, emoji 🙂"),
])
def test_clean_makes_every_control_character_visible(raw: str, shown: str) -> None:
    from pivot.services.terminal_text import clean, markup, text

    assert clean(raw) == shown
    assert _printed(text(raw)).rstrip("\n") == shown
    assert _printed(markup("[red]{}[/]", raw)).rstrip("\n") == shown


def test_clean_keeps_newlines_only_when_asked() -> None:
    from pivot.services.terminal_text import clean

    assert clean("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


@pytest.mark.parametrize("raw", ["[/]", "[/]x", "[red]", "[link=https://evil.example]x", "x\\", "\\[bold]", "[bold",
                                 "[/red]", "{}", "{0}", "\ue000"])
def test_markup_fields_can_neither_open_nor_close_tags(raw: str) -> None:
    from pivot.services.terminal_text import markup

    printed = _printed(markup("[bold]{}[/] and {}", raw, raw))
    assert printed == f"{raw} and {raw}\n"


def test_every_character_is_shown_or_escaped() -> None:
    from pivot.services.terminal_text import clean, markup, text

    every = "".join(map(chr, range(0x250))) + "\u061c\u200e\u200f\u2028\u2029" + "".join(
        map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
    assert unsafe_characters(clean(every)) == []
    assert unsafe_characters(_printed(text(every), markup("{}", every))) == []


def _service_formatter(log_format: str, monkeypatch: pytest.MonkeyPatch) -> logging.Formatter:
    """The formatter the service installs for PIVOT_LOG_FORMAT (the root logger is restored after)."""
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    saved = root.handlers[:], root.level, httpx_logger.level
    monkeypatch.setenv("PIVOT_LOG_FORMAT", log_format)
    try:
        configure_logging()
        formatter = root.handlers[0].formatter
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        httpx_logger.setLevel(saved[2])
    assert formatter is not None
    return formatter


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_log_lines_carry_no_control_characters(log_format: str, monkeypatch: pytest.MonkeyPatch) -> None:
    formatter = _service_formatter(log_format, monkeypatch)
    try:
        raise ValueError(f"inside a traceback: {HOSTILE}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("pivot.saga", logging.WARNING, __file__, 1, "run=%s failed: %s",
                               ("r1", f"{HOSTILE}\n2025-01-01 INFO pivot.saga forged line"), exc_info)
    line = formatter.format(record)
    assert unsafe_characters(line) == [], line
    assert "[/]x" in line and "\\x1b[2J" in line
    assert "forged line" in line.split("\n", 1)[0]  # a newline in data cannot start a line of its own
