"""Child processes the local stack owns: started with a log file, stopped by their own pid.

Never by name: a developer may run other Restate servers or hypercorns on the same machine.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: held open together while they are chosen (one
    `free_port()` after another can hand out the same port twice)."""
    with ExitStack() as held:
        socks = [held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Poll a real readiness condition; raise with `what` if it never holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


ESTABLISHED, LISTEN = "01", "0A"
"""TCP states as /proc/net/tcp writes them."""


@dataclass(frozen=True)
class TcpSocket:
    state: str
    local_port: int
    remote_port: int


def _tcp_table(net_dir: Path) -> Iterator[tuple[str, TcpSocket]]:
    """(socket inode, socket) for each row of a network namespace's TCP tables (`net_dir` is
    /proc/PID/net); a host without IPv6 has no tcp6 table."""
    for table in ("tcp", "tcp6"):
        path = net_dir / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            yield fields[9], TcpSocket(state=fields[3], local_port=int(fields[1].rsplit(":", 1)[1], 16),
                                       remote_port=int(fields[2].rsplit(":", 1)[1], 16))


def _socket_links(pid: int | str) -> set[str]:
    """What the process's file descriptors point at (`socket:[INODE]` for a socket)."""
    return {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink()}


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """The TCP sockets process `pid` itself holds: the network namespace's tables (/proc/PID/net),
    kept to the sockets among the process's own file descriptors."""
    own = _socket_links(pid)
    return [sock for inode, sock in _tcp_table(Path(f"/proc/{pid}/net")) if f"socket:[{inode}]" in own]


def listening_pids(port: int) -> list[int]:
    """Every process (of those this user may look into) holding a socket that listens on `port`:
    the inodes of the listening rows of /proc/net/tcp{,6}, found among each /proc/PID/fd."""
    inodes = {f"socket:[{inode}]" for inode, sock in _tcp_table(Path("/proc/self/net"))
              if sock.state == LISTEN and sock.local_port == port}
    holders = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if inodes & _socket_links(entry.name):
                holders.append(int(entry.name))
        except OSError:  # another user's process, or one that just exited
            continue
    return sorted(holders)


def command_line(pid: int) -> str:
    """The process's command line as one string ('' once it has exited or cannot be read)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot, /proc/PID/stat field 22), or None if it
    does not run: with the pid, it tells the process apart from a later one given the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
    return None if fields[0] == "Z" else int(fields[19])


class ProcessExited(RuntimeError):
    """A child of the local stack exited while it was meant to run (the message ends with its log's tail)."""


class ManagedProcess:
    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path,
                 stop_signal: int = signal.SIGTERM, user: int | None = None, group: int | None = None,
                 extra_groups: list[int] | None = None):
        """`stop_signal`: what `stop` sends first (PostgreSQL's fast shutdown is SIGINT). `user`,
        `group`, `extra_groups`: run the child as another user (a server that refuses root)."""
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._as_user: dict[str, object] = {} if user is None else {
            "user": user, "group": group, "extra_groups": extra_groups if extra_groups is not None else []}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, **self._as_user,  # type: ignore[call-overload]
            )
        finally:
            log.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise ProcessExited(f"{self.name} exited with {self._proc.returncode}; log tail:\n{tail}")

    def listens_on(self, port: int) -> bool:
        """Whether this process itself holds a listening TCP socket on `port`. With SO_REUSEPORT an
        answer on the port may come from another process, so only /proc tells this one is ready."""
        if self.pid is None or not self.running:
            return False
        return any(sock.state == LISTEN and sock.local_port == port for sock in tcp_sockets(self.pid))

    def wait_listening(self, port: int, timeout_s: float = 30.0) -> None:
        def ready() -> bool:
            self.check_alive()
            return self.listens_on(port)
        wait_until(ready, timeout_s=timeout_s, what=f"{self.name} listening on port {port}")

    def kill(self) -> None:
        """SIGKILL by pid: the crash the tests inflict."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """`stop_signal` (SIGTERM) by pid, then SIGKILL if it does not exit in time."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.kill(self._proc.pid, self.stop_signal)
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
