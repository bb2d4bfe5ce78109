#!/usr/bin/env bash
# The test command: install what is missing, lint and type-check, then run the whole suite
# against a real restate-server, real sandboxes and the real service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# Debian's packages the tests run for real: Chromium (the approval page's browser test; no browser
# download) and nginx (the authenticating proxy in front of the ingress). Skipped when not root.
if [ "$(id -u)" = 0 ]; then
  scripts/apt-install.sh chromium nginx
fi
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
