"""What `pivot dev` checks before it starts anything: its ports are free, its state folder is its own.

Before, the children started anyway; the one whose port was taken died into its own log, and
`pivot dev` waited 60 s for a health check that could never pass, then ended in a traceback that
hid "address already in use". Binding each port first, as the servers will (127.0.0.1,
SO_REUSEADDR), answers in milliseconds, and /proc says which process holds a taken one.
"""

import errno
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pivot.services.local.processes import command_line, listening_pids
from pivot.services.local.stack_file import FILE_NAME, STATE_DIR_ENV, read_stack_file, running_stack


class CannotStart(RuntimeError):
    """The local stack cannot start as asked; the message says why and what to do, nothing ran."""


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not bind `host:port` now (another socket listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@dataclass(frozen=True)
class TakenPort:
    port: int
    purpose: str
    holders: tuple[int, ...]

    def sentence(self) -> str:
        if not self.holders:
            who = (f"a process this user cannot look into (as root, `ss -ltnp 'sport = :{self.port}'` "
                   "names it)")
        else:
            who = "; ".join(f"pid {pid} ({' '.join(command_line(pid).split())[:120] or '?'})" for pid in self.holders)
        return f"port {self.port} ({self.purpose}) is in use by {who}"


def taken_ports(ports: Mapping[int, str]) -> list[TakenPort]:
    """The ports of `ports` (port → what it is for) that another process holds, with the holders."""
    return [TakenPort(port, purpose, tuple(listening_pids(port))) for port, purpose in ports.items()
            if port_taken(port)]


def _left_running(state: Path, holders: set[int]) -> list[int]:
    """Which of `holders` are children of an earlier `pivot dev` of this state folder that died
    without stopping them (its stack.json remains, its own pid runs no more)."""
    earlier = read_stack_file(state / FILE_NAME)
    if earlier is None or earlier.still_running():
        return []
    return sorted(holders & set(earlier.processes.values()))


def check_can_start(ports: Mapping[int, str], state: Path) -> None:
    """Raise `CannotStart` naming every taken port and its holder, and a running stack of the
    same state folder (two restate-servers cannot share a data folder)."""
    taken = taken_ports(ports)
    problems = [port.sentence() for port in taken]
    left = _left_running(state, {pid for port in taken for pid in port.holders})
    if left:
        problems.append(f"pids {', '.join(map(str, left))} were started by a `pivot dev` that no longer runs "
                        f"(killed before it could stop them; {state / FILE_NAME}): kill {' '.join(map(str, left))}")
    if taken:
        problems.append("free them, or start on other ports: `pivot dev --ports free` (every command finds "
                        f"them in {state / FILE_NAME}) or `--port NAME=PORT`")
    other = running_stack(state)
    if other is not None:
        problems.append(f"`pivot dev` already runs with this state folder: pid {other.info.pid} "
                        f"({other.path}); stop it first (Ctrl-C in its terminal, or kill {other.info.pid}), "
                        f"or give this one another folder with {STATE_DIR_ENV}")
    if problems:
        raise CannotStart("\n".join(problems))
