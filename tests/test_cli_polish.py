"""The CLI says what is happening: `status --watch` piped prints one line per change and ends with
the saga, `pivot run` says that it waits on a gate and how to approve it, `pivot actions` lists each
action's params, `list --status` finds open sagas by what their steps do, and `--help` documents the
exit codes. The CLI runs as a real process where it matters (a pipe, not a terminal)."""

import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from pivot.services.cli import main, render
from pivot.services.client import PivotClient
from pivot.services.local.stack import Stack
from tests.test_approvals import decide, gated_plan, park
from tests.test_open_sagas import new_run

WAIT_S = 60.0


class Lines:
    """A child's output, line by line as it comes (a thread drains the pipe)."""

    def __init__(self, stream: IO[str]):
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, fragment: str) -> str:
        """The first line holding `fragment`; fails if the output ends, or nothing comes for a minute."""
        while True:
            try:
                line = self._queue.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no line with {fragment!r} within {WAIT_S} s; so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"the output ended without {fragment!r}: {self.seen}")
            self.seen.append(line)
            if fragment in line:
                return line

    def rest(self) -> list[str]:
        lines = []
        while (line := self._queue.get(timeout=WAIT_S)) is not None:
            lines.append(line)
        return lines


@contextmanager
def pivot_cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    """`pivot ARGS` as a child process with its stdout and stderr piped; stopped by its pid."""
    child = subprocess.Popen([sys.executable, "-m", "pivot.services.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    assert child.stdout is not None and child.stderr is not None
    try:
        yield child, Lines(child.stdout), Lines(child.stderr)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def test_status_watch_piped_prints_a_line_per_change_and_ends_with_the_saga(
        stack: Stack, pivot: PivotClient) -> None:
    run_id, approval = park(pivot)
    with pivot_cli("status", run_id, "--watch", "--ingress", stack.ingress_url) as (child, out, _):
        waiting = out.until("waiting_approval")
        assert waiting.startswith(f"{run_id} waiting_approval") and "contact:verified" in waiting
        assert f"waiting for approval by finance (approve with: pivot approve {approval})" in waiting
        decide(pivot, approval)
        out.until(f"{run_id} committed")
        assert child.wait(timeout=WAIT_S) == 0
    lines = out.seen + out.rest()
    assert len(lines) == len(set(lines))  # a line per change, never the same state twice
    assert "All steps were applied and verified." in lines[-1]


def test_run_says_it_waits_for_an_approval_and_how_to_give_it(
        stack: Stack, pivot: PivotClient, tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12]
    run_id = f"cli-run-{token}"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(gated_plan(f"ada+{token}@example.com")))
    with pivot_cli("run", str(plan), "--run-id", run_id, "--json", "--ingress", stack.ingress_url) as (child, out, err):
        notice = err.until("waiting for approval")
        assert notice == (f"'invoice' is waiting for approval by finance (approve with: pivot approve "
                          f"{run_id}~invoice)")
        decide(pivot, f"{run_id}~invoice")
        assert child.wait(timeout=WAIT_S) == 0
        assert json.loads("\n".join(out.rest()))["status"] == "committed"  # stdout stays JSON


def test_actions_lists_each_actions_params_required_ones_starred(capsys: pytest.CaptureFixture[str]) -> None:
    from pivot.services.catalog import build_catalog

    catalog = build_catalog()
    assert render.params_cell(catalog["hubspot.create_contact"]) == "email*, firstname, lastname, company, phone"
    assert render.params_cell(catalog["stripe.refund"]) == "payment_intent*, amount, reason"
    assert main(["actions"]) == 0
    out = capsys.readouterr().out
    assert "params: * required" in out and "email*," in out


def test_list_by_status_finds_open_sagas_by_what_their_steps_do(
        stack: Stack, pivot: PivotClient, capsys: pytest.CaptureFixture[str]) -> None:
    run_id, email = new_run("cli-list")
    gate = {"approvers": ["finance"], "timeout": "PT1H", "reason": "check the contact"}
    parked = pivot.step(run_id, "contact", "hubspot.create_contact", {"email": email}, approval=gate, wait_s=1)
    assert parked["saga"]["status"] == "open" and parked["step"]["state"] == "waiting_approval"

    def listed(status: str) -> set[str]:
        assert main(["list", "--status", status, "--admin", stack.admin_url, "--json"]) == 0
        return {s["run_id"] for s in json.loads(capsys.readouterr().out)}

    assert run_id in listed("waiting_approval") and run_id in listed("open")
    assert run_id not in listed("committed") and run_id not in listed("running")
    assert pivot.abort(run_id, "the test is done")["status"] == "compensated"  # the waiting step is cancelled
    assert run_id in listed("compensated") and run_id not in listed("waiting_approval")


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for line in ("0  committed", "1  error", "2  refused or invalid", "3  compensated", "4  needs attention"):
        assert line in out, out


def test_actions_table_says_the_seeds_three_words(capsys: pytest.CaptureFixture[str]) -> None:
    """Reversible, idempotent, classification: the table the article Pivot is built on draws."""
    assert main(["actions", "--json"]) == 0
    listed = {a["name"]: a for a in json.loads(capsys.readouterr().out)}
    said = {name: (a["reversible"], a["idempotent"]) for name, a in listed.items()}
    assert said["slack.post_message"] == ("no (deferred, runs last)", "no (Pivot's lookup)")
    assert said["stripe.refund"] == ("no (retried to success)", "yes (idempotency key)")
    assert said["shopify.create_fulfillment"][0] == "partly" and said["hubspot.create_contact"][0] == "yes"
    assert main(["actions", "--table"]) == 0
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in capsys.readouterr().out.splitlines() if line}
    assert rows["stripe.charge"] == "compensable · pivot candidate yes yes (idempotency key)"
    assert rows["resend.send_email"] == "noncompensable no (deferred, runs last) yes (idempotency key)"
