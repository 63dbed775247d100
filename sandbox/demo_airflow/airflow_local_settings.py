"""Airflow cluster policy for the demo's Airflow only (sandbox/demo.py puts this folder first on its
PYTHONPATH): a failed task, say on a timeout of a busy machine, is retried after 10 seconds rather
than the feed's usual delay of minutes, so the demo's run finishes while someone is watching."""

from __future__ import annotations

import datetime as dt
from typing import Any

DEMO_RETRY_DELAY = dt.timedelta(seconds=10)


def task_policy(task: Any) -> None:
    task.retry_delay = min(task.retry_delay, DEMO_RETRY_DELAY)
    task.max_retry_delay = DEMO_RETRY_DELAY
