#!/usr/bin/env bash
# Install what is missing, then start the local stack (`pivot dev`); pass --demo to run the
# flagship saga twice. Ctrl-C stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/pivot dev "$@"
