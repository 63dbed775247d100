#!/usr/bin/env bash
# The main job on embedded defaults: set up, start Airflow, the SFTP source and the store,
# drop a generated export with some bad rows, run the feed, print where to look.
#   scripts/demo.sh           Airflow standalone with its UI; Ctrl-C stops everything
#   scripts/demo.sh --once    headless: one real DAG run, exit 0 only when it succeeded
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$LEDGERLINK_ROOT/scripts/setup.sh"
exec "$VENV/bin/ledgerlink" demo "$@"
