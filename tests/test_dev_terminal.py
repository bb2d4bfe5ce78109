"""`pivot dev` in a terminal: a pseudo-terminal the test owns, `pivot dev` its controlling process
(as in a terminal window). Closing the terminal (the kernel's SIGHUP) or SIGTERM stops every
process it started, as Ctrl-C does; a port another process holds is named at once, with that
process, and nothing starts.

Each `pivot dev` runs on free ports with a state folder of its own (`--ports free`,
`PIVOT_STATE_DIR`); whatever outlives a failed test is killed by its pid.
"""

import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pivot.services.local.processes import start_ticks
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack_file import FILE_NAME, read_stack_file

PIVOT = Path(sys.executable).parent / "pivot"
CONTROLLING_TERMINAL = "import os, sys; os.login_tty(0); os.execv(sys.argv[1], sys.argv[1:])"
"""Run the command as a session leader whose controlling terminal is its stdin (the pty), as a
shell in a terminal window runs it: closing the terminal then sends it SIGHUP."""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Terminal:
    proc: subprocess.Popen[bytes]
    master: int | None
    screen: bytearray = field(default_factory=bytearray)
    seen: dict[int, int] = field(default_factory=dict)
    """Every process seen below `pivot dev`: killed by pid if one outlives the test."""

    def children(self) -> dict[int, int]:
        """The processes below `pivot dev` now (pid → start time), remembered for the clean-up."""
        found = descendants(self.proc.pid)
        self.seen |= found
        return found

    def text(self) -> str:
        return ANSI.sub("", self.screen.decode(errors="replace")).replace("\r\n", "\n")

    def read_until(self, wanted: str, *, timeout_s: float) -> str:
        """What the terminal showed until `wanted` appeared; fails with the screen if the process
        exits or `timeout_s` passes first."""
        deadline = time.monotonic() + timeout_s
        while wanted not in self.text():
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} within {timeout_s}s:\n{self.text()}"
            assert self._read(left), f"pivot dev ended before {wanted!r}:\n{self.text()}"
        return self.text()

    def read_to_end(self, *, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while self._read(max(0.0, deadline - time.monotonic())):
            assert time.monotonic() < deadline, f"pivot dev still runs after {timeout_s}s:\n{self.text()}"
        return self.text()

    def _read(self, wait_s: float) -> bool:
        """Read what is there (waiting up to `wait_s`); False once the terminal's other side is closed."""
        assert self.master is not None
        if not select.select([self.master], [], [], wait_s)[0]:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process on the terminal's side has exited
            return False
        self.screen += chunk
        return bool(chunk)

    def hang_up(self) -> None:
        """Close the terminal (as closing its window does): the kernel hangs up its session."""
        assert self.master is not None
        os.close(self.master)
        self.master = None


@contextmanager
def dev_in_terminal(state: Path, *args: str) -> Iterator[Terminal]:
    """`pivot dev ARGS` in a pseudo-terminal of 200 columns, with `state` as its state folder."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")} | {"PIVOT_STATE_DIR": str(state)}
    proc = subprocess.Popen([sys.executable, "-c", CONTROLLING_TERMINAL, str(PIVOT), "dev", *args],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=PROJECT_ROOT)
    os.close(slave)
    terminal = Terminal(proc, master)
    try:
        yield terminal
    finally:
        if proc.poll() is None:
            terminal.children()
        for pid in still_running(terminal.seen):  # outlived the test: stopped by its pid
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if terminal.master is not None:
            os.close(terminal.master)


def descendants(root: int) -> dict[int, int]:
    """Every process below `root` (children, theirs…), pid → start time (to tell a reused pid apart)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found: dict[int, int] = {}
    below = [root]
    while below:
        parent = below.pop()
        for pid in [pid for pid, ppid in parents.items() if ppid == parent]:
            ticks = start_ticks(pid)
            if ticks is not None:
                found[pid] = ticks
                below.append(pid)
    return found


def still_running(processes: dict[int, int]) -> dict[int, int]:
    return {pid: ticks for pid, ticks in processes.items() if start_ticks(pid) == ticks}


@pytest.mark.parametrize("stop", ["terminal closed (SIGHUP)", "SIGTERM"])
def test_pivot_dev_stops_every_child_when_told_to(tmp_path: Path, stop: str) -> None:
    with dev_in_terminal(tmp_path, "--ports", "free") as terminal:
        terminal.read_until("ready", timeout_s=180)
        info = read_stack_file(tmp_path / FILE_NAME)
        assert info is not None and info.pid == terminal.proc.pid
        children = terminal.children()
        assert set(info.processes.values()) <= set(children)
        assert set(info.processes) == {"restate-server", "sandboxes", "pivot-service", "approval-page", "pivot-mcp",
                                       "postgres"}

        if stop == "SIGTERM":
            os.kill(terminal.proc.pid, signal.SIGTERM)
            assert "stopped every process started here" in terminal.read_to_end(timeout_s=120)
            assert terminal.proc.wait(timeout=30) == 0
        else:
            terminal.hang_up()
            terminal.proc.wait(timeout=120)
        assert still_running(children) == {}, terminal.text()
        assert not (tmp_path / FILE_NAME).exists()  # no stack to find any more


def test_a_taken_port_is_named_with_its_holder_at_once(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with dev_in_terminal(tmp_path, "--ports", "free", "--port", f"ingress={port}") as terminal:
            named = f"port {port} (the Restate ingress) is in use by pid {os.getpid()} ("
            # Named before anything starts (no child's log below), not after a readiness wait (60 s).
            terminal.read_until(named, timeout_s=20)
            screen = terminal.read_to_end(timeout_s=60)
            assert terminal.proc.wait(timeout=30) == 1
    assert "pivot dev cannot start: nothing was started" in screen and "--ports free" in screen
    assert "Traceback" not in screen
    assert not (tmp_path / "logs").exists()  # no child was started (each writes its log there)


def test_children_a_killed_pivot_dev_left_running_are_named_for_the_next(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the children live on, holding their ports. The next `pivot dev`
    on those ports names them, says who left them, and starts nothing."""
    with dev_in_terminal(tmp_path, "--ports", "free") as first:
        first.read_until("ready", timeout_s=180)
        info = read_stack_file(tmp_path / FILE_NAME)
        assert info is not None
        first.children()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        ingress = int(info.ingress.rsplit(":", 1)[1])
        with dev_in_terminal(tmp_path, "--ports", "free", "--port", f"ingress={ingress}") as second:
            screen = second.read_to_end(timeout_s=60)
            assert second.proc.wait(timeout=30) == 1
        restate = info.processes["restate-server"]
        assert f"port {ingress} (the Restate ingress) is in use by pid {restate} (" in screen
        assert "started by a `pivot dev` that no longer runs" in screen and f"kill {restate}" in screen
        assert "Traceback" not in screen
        assert still_running(first.seen)  # the first one's children, killed by pid on the way out
