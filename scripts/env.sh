# Sourced by the other scripts: where things live. Override any of these before calling them.
LEDGERLINK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LEDGERLINK_ROOT
export VENV="${VENV:-$LEDGERLINK_ROOT/.venv}"
export LEDGERLINK_HOME="${LEDGERLINK_HOME:-$LEDGERLINK_ROOT/.ledgerlink}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$LEDGERLINK_ROOT/.airflow}"
export AIRFLOW_CONFIG="${AIRFLOW_CONFIG:-$LEDGERLINK_ROOT/airflow.cfg}"
export PATH="$VENV/bin:$PATH"
