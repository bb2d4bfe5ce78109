"""Where the pinned Restate binaries live, and how the project installs them.

The server ships inside the npm package `@restatedev/restate-server` (one platform package per
OS/arch); `npm install` into the git-ignored `.tools/restate` folder is all the setup there is.
"""

import os
import platform
import shutil
import subprocess
from pathlib import Path

RESTATE_VERSION = "1.7.12"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = PROJECT_ROOT / ".tools" / "restate"


def _platform_suffix() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    arch = {"x86_64": "x64", "AMD64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if system is None or arch is None:
        raise RuntimeError(f"no Restate binary for {platform.system()}/{platform.machine()}")
    return f"{system}-{arch}"


def restate_server_path() -> Path:
    """PIVOT_RESTATE_SERVER wins; otherwise the binary inside the installed npm package."""
    override = os.environ.get("PIVOT_RESTATE_SERVER")
    if override:
        return Path(override)
    package = TOOLS_DIR / "node_modules" / "@restatedev" / f"restate-server-{_platform_suffix()}"
    return package / "bin" / "restate-server"


def restate_cli_path() -> Path:
    return TOOLS_DIR / "node_modules" / "@restatedev" / f"restate-{_platform_suffix()}" / "bin" / "restate"


def installed_version(binary: Path) -> str | None:
    if not binary.exists():
        return None
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().rsplit(" ", 1)[-1] or None


def ensure_restate() -> Path:
    """Install the pinned restate-server (and CLI) with npm unless it is already there."""
    binary = restate_server_path()
    if installed_version(binary) == RESTATE_VERSION or "PIVOT_RESTATE_SERVER" in os.environ:
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to install restate-server (it ships as an npm package)")
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(TOOLS_DIR), "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
         f"@restatedev/restate-server@{RESTATE_VERSION}", f"@restatedev/restate@{RESTATE_VERSION}"],
        check=True,
    )
    if installed_version(binary) != RESTATE_VERSION:
        raise RuntimeError(f"restate-server {RESTATE_VERSION} did not install at {binary}")
    return binary


if __name__ == "__main__":
    print(ensure_restate())
