#!/usr/bin/env bash
# Runs the whole test suite: lint (ruff), types (mypy), unit tests, then integration tests against the real
# servers (OpenSSH sshd on loopback, PostgreSQL when LEDGERLINK_TEST_PG is set, Airflow DAG runs,
# the Tryton sandbox). Arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$LEDGERLINK_ROOT/scripts/setup.sh"
cd "$LEDGERLINK_ROOT"
# Tests get their own homes so they never touch the demo's store or Airflow database.
export LEDGERLINK_HOME="$(mktemp -d)/ledgerlink" AIRFLOW_HOME="$(mktemp -d)/airflow"
echo "ledgerlink: ruff"
"$VENV/bin/ruff" check .
echo "ledgerlink: mypy"
"$VENV/bin/mypy"
# The Tryton sandbox is built here, not inside a test: a few minutes the first time, then reused.
if ! "$LEDGERLINK_ROOT/sandbox/tryton/setup.sh"; then
  if [ -n "${LEDGERLINK_REQUIRE_TRYTON:-}" ]; then
    echo "ledgerlink: the Tryton sandbox could not be built (LEDGERLINK_REQUIRE_TRYTON is set)" >&2
    exit 1
  fi
  echo "ledgerlink: the Tryton sandbox could not be built: the Tryton tests will be skipped" >&2
fi
"$VENV/bin/pytest" "$@"
