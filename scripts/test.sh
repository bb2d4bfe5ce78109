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
# Two worker processes (PIVOT_TEST_WORKERS), each with its own stack; a test file stays on one
# worker, so its fixtures and its order hold. Most tests wait on providers, retries and restarts
# rather than compute, so two workers take about 0.6 of the time of one, on two cores.
.venv/bin/python -m pytest -n "${PIVOT_TEST_WORKERS:-2}" --dist loadfile "$@"
