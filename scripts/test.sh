#!/usr/bin/env bash
# The test command: install what is missing, lint and type-check, then run the whole suite
# against a real restate-server, real sandboxes and the real service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The approval page is tested in a real headless Chromium: Debian's package, no browser download.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Debian's chromium for the browser test" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
