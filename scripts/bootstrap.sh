#!/usr/bin/env bash
# Install what Pivot needs into the project folder: a virtualenv with the pinned Python
# dependencies (.venv) and the pinned restate-server from npm (.tools/restate). Idempotent:
# re-running it skips what is already in place.
set -euo pipefail
# The real clone, even when called through a folder that links to it (the README runner's): an
# editable install from the linked folder would write its path into the scripts' shebangs.
cd "$(dirname "$(readlink -f "$0")")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.pivot-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python dependencies" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench,agents]'
  echo "$want" > "$stamp"
fi
.venv/bin/python -m pivot.services.local.restate_binary >/dev/null
