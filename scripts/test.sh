#!/usr/bin/env bash
# The test command: install what is missing, lint and type-check, then run the whole suite
# against a real restate-server, real sandboxes and the real service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
