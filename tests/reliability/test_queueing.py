"""The publishing circuit breaker (enllasd_web/queueing.py) against a real refusing broker and the real Redis."""

from __future__ import annotations

import time

import pytest
import redis
from celery import Celery
from django.conf import settings as django_settings

from enllasd_web import queueing
from tests.reliability.processes import free_port

QUEUE = "breaker-test"


def _app(broker_url: str) -> Celery:
    app = Celery("breaker-test", broker=broker_url)
    app.conf.broker_transport_options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    app.conf.task_publish_retry = False
    return app


def _nothing() -> None:
    """The body of the test tasks (never run: only publishing is tested)."""


@pytest.fixture
def queue_length():
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    key = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "") + QUEUE
    client.delete(key)
    yield lambda: client.llen(key)
    for stale in client.scan_iter(f"*{QUEUE}*"):
        client.delete(stale)


def test_a_failed_publish_opens_the_breaker_and_it_closes_after_the_wait(settings, queue_length):
    refusing = _app(f"redis://127.0.0.1:{free_port()}/0").task(name="breaker.refused")(_nothing)
    healthy = _app(django_settings.CELERY_BROKER_URL).task(name="breaker.healthy")(_nothing)
    settings.BROKER_RETRY_AFTER_S = 30

    with pytest.raises(queueing.BrokerUnavailable):
        queueing.publish(refusing, args=[], queue=QUEUE)
    started = time.monotonic()
    with pytest.raises(queueing.BrokerUnavailable, match="not retried yet"):
        queueing.publish(healthy, args=[], queue=QUEUE)  # not even tried while the breaker is open
    assert time.monotonic() - started < 0.05 and queue_length() == 0
    assert queueing.publish_or_log(healthy, args=[], queue=QUEUE, what="a test message") is False

    queueing._broker_down_until = time.monotonic()  # the wait is over
    assert queueing.publish_or_log(healthy, args=[], queue=QUEUE, what="a test message") is True
    assert queue_length() == 1


def test_publish_or_log_logs_the_failure(caplog):
    refusing = _app(f"redis://127.0.0.1:{free_port()}/0").task(name="breaker.refused")(_nothing)
    assert queueing.publish_or_log(refusing, args=[], queue=QUEUE, what="derivatives for image 7") is False
    assert "Could not queue derivatives for image 7" in caplog.text
