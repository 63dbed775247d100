#!/usr/bin/env bash
# Builds the virtualenv from the lock (requirements.txt) and installs ledgerlink into it.
# Idempotent: a second run only checks. Needs Python 3.11+; no root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "ledgerlink: creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
echo "ledgerlink: installing the locked dependencies (requirements.txt)"
# Compiled to bytecode here: where PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile every
# module it imports again in every process (seconds for each CLI call and each Airflow task).
"$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" "$LEDGERLINK_ROOT/requirements.txt"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e "$LEDGERLINK_ROOT"
"$VENV/bin/python" -m compileall -q -j 0 -x '/(\.venv|sandbox/tryton/(\.venv|data))/' \
  "$LEDGERLINK_ROOT/ledgerlink" "$LEDGERLINK_ROOT/connectors" "$LEDGERLINK_ROOT/dags" "$LEDGERLINK_ROOT/plugins" \
  >/dev/null
mkdir -p "$LEDGERLINK_HOME" "$AIRFLOW_HOME"
