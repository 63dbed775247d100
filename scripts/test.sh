#!/usr/bin/env bash
# Runs the whole test suite: lint, unit tests, then integration tests against the real
# servers (OpenSSH sshd on loopback, PostgreSQL when LEDGERLINK_TEST_PG is set, Airflow DAG runs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$LEDGERLINK_ROOT/scripts/setup.sh"
cd "$LEDGERLINK_ROOT"
# Tests get their own homes so they never touch the demo's store or Airflow database.
export LEDGERLINK_HOME="$(mktemp -d)/ledgerlink" AIRFLOW_HOME="$(mktemp -d)/airflow"
echo "ledgerlink: ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/pytest" "$@"
