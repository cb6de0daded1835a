"""Which Celery workers are alive and what they consume: a heartbeat in Redis, read by the web process.

Every worker of this install writes ``<BROKER_PREFIX>worker:<hostname>`` = ``{"queues", "pid", "at"}`` when it
is ready and then every ``WORKER_HEARTBEAT_S`` seconds from a thread of its main process, with an expiry of
three beats; it deletes the key when it shuts down. The thread beats while the worker runs a task, in every
pool (in the prefork pool the task runs in a child; in the solo pool it runs in the main thread, and model
code releases the GIL), so a key that exists means "running", busy or not, and no key means "no worker".

Celery's own ``inspect``/``ping`` cannot tell these apart: a solo worker does not answer while it runs a task,
and asking costs the whole reply timeout.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport: "<queue>\x06\x16<priority>" for priorities > 0
_PRIORITY_STEPS = (0, 3, 6, 9)


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _key(hostname: str) -> str:
    return f"{settings.BROKER_PREFIX}worker:{hostname}"


def _glob_escaped(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def worker_heartbeat_write(*, hostname: str, queues: list[str], client: Any = None) -> None:
    """Record that ``hostname`` is running and consumes ``queues`` (expires after three beats)."""
    payload = json.dumps({"queues": sorted(queues), "pid": os.getpid(), "at": time.time()})
    (client or _redis()).set(_key(hostname), payload, ex=3 * settings.WORKER_HEARTBEAT_S)


def worker_heartbeat_clear(*, hostname: str) -> None:
    _redis().delete(_key(hostname))


@dataclass(frozen=True)
class QueueState:
    """What Redis says about one queue: the live workers that consume it and the messages waiting in it."""

    queue: str
    workers: tuple[str, ...]
    waiting: int

    @property
    def consumed(self) -> bool:
        return bool(self.workers)


def queue_state(*, queue: str) -> QueueState:
    """The workers of this install that consume ``queue`` now, and how many messages wait in it.

    Raises
    ------
    redis.RedisError
        Redis cannot be reached.
    """
    client = _redis()
    workers = []
    for key in client.scan_iter(match=_glob_escaped(settings.BROKER_PREFIX) + "worker:*", count=200):
        raw = client.get(key)
        if raw is None:  # expired between SCAN and GET
            continue
        try:
            queues = json.loads(raw)["queues"]
        except (ValueError, KeyError, TypeError):
            continue
        if queue in queues:
            workers.append(key.decode()[len(_key("")):])
    names = [queue] + [f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS if step]
    waiting = sum(client.llen(settings.BROKER_PREFIX + name) for name in names)
    return QueueState(queue=queue, workers=tuple(sorted(workers)), waiting=int(waiting))


class _Heartbeat(threading.Thread):
    def __init__(self, hostname: str, queues: list[str]) -> None:
        super().__init__(name="enllasd-worker-heartbeat", daemon=True)
        self.hostname, self.queues = hostname, queues
        self.stopped = threading.Event()

    def run(self) -> None:
        client = _redis()
        while True:
            try:
                worker_heartbeat_write(hostname=self.hostname, queues=self.queues, client=client)
            except Exception as exc:  # noqa: BLE001 - Redis down: the next beat tries again
                logger.warning("worker heartbeat of %s not written: %s", self.hostname, exc)
            if self.stopped.wait(settings.WORKER_HEARTBEAT_S):
                return


_heartbeat: _Heartbeat | None = None


def heartbeat_start(*, hostname: str, queues: list[str]) -> None:
    """Start beating for this worker process (once; called by the ``worker_ready`` signal)."""
    global _heartbeat
    if _heartbeat is None:
        _heartbeat = _Heartbeat(hostname, queues)
        _heartbeat.start()


def heartbeat_stop() -> None:
    """Stop beating and remove the key, so the API says "no worker" at once (``worker_shutdown``)."""
    global _heartbeat
    if _heartbeat is not None:
        _heartbeat.stopped.set()
        _heartbeat.join(timeout=5)  # a beat being written now must not land after the delete
        try:
            worker_heartbeat_clear(hostname=_heartbeat.hostname)
        except Exception as exc:  # noqa: BLE001 - the key expires by itself
            logger.warning("worker heartbeat of %s not cleared: %s", _heartbeat.hostname, exc)
        _heartbeat = None
