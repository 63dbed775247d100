#!/usr/bin/env bash
# Builds the Tryton sandbox (its own virtualenv, the seeded SQLite database); idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$here/../../.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" "$here/setup.py" "$@"
