"""Publishing Celery tasks from web requests: never fail a request, never wait on a broken broker twice.

Every job's state lives in a database row, so a message that cannot be published is not lost: the row
stays ``queued``/``pending`` and ``manage.py requeue_pending`` (Celery beat, every 5 minutes) publishes
it again. Publishing to a hung Redis still costs the broker's socket timeout (5 s), so after a failure
this process stops trying for ``BROKER_RETRY_AFTER_S`` seconds (a circuit breaker): one slow request,
then instant ones, instead of 5 s for every message of every upload.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_broker_down_until = 0.0  # time.monotonic() before which this process does not publish


class BrokerUnavailable(RuntimeError):
    """The message was not published: the broker failed now or did a moment ago."""


def publish(task: Any, *, args: list[Any], queue: str, **options: Any) -> Any:
    """``task.apply_async(args, queue=queue, **options)``, or :class:`BrokerUnavailable` at once while
    the breaker is open. Returns the ``AsyncResult``."""
    global _broker_down_until
    now = time.monotonic()
    if now < _broker_down_until:
        raise BrokerUnavailable(f"the broker failed less than {settings.BROKER_RETRY_AFTER_S} s ago; not retried yet")
    try:
        return task.apply_async(args=args, queue=queue, **options)
    except Exception as exc:  # noqa: BLE001 - any broker failure, whatever the transport raises
        _broker_down_until = time.monotonic() + settings.BROKER_RETRY_AFTER_S
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc


def publish_or_log(task: Any, *, args: list[Any], queue: str, what: str) -> bool:
    """:func:`publish`, with a failure logged as a warning naming ``what`` instead of raised."""
    try:
        publish(task, args=args, queue=queue)
    except BrokerUnavailable as exc:
        logger.warning("Could not queue %s: %s", what, exc)
        return False
    return True
