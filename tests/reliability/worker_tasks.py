"""A task that only sleeps, loaded into a test worker with ``--include``, to watch time limits act."""

from __future__ import annotations

import time

from celery.exceptions import SoftTimeLimitExceeded

from enllasd_web.celery import app

NAP_SOFT_LIMIT_S = 1
NAP_HARD_LIMIT_S = 3


@app.task(name="tests.reliability.nap", time_limit=NAP_HARD_LIMIT_S, soft_time_limit=NAP_SOFT_LIMIT_S)
def nap(seconds: float) -> str:
    """Sleep ``seconds``; ignore the soft limit once, so that only the hard limit can end the task."""
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        time.sleep(seconds)
    return "finished"
