"""The Celery application. Queues: default, inference, training, sam, sam_batch, sam_precompute
(scripts/run and docker-compose.yml start one worker for the interactive ``sam`` queue and others for the rest).
"""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enllasd_web.settings.local")

app = Celery("enllasd_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in app.conf.task_queues_names]
app.autodiscover_tasks()


@worker_ready.connect
def _heartbeat_start(sender, **_kwargs) -> None:  # noqa: ANN001 - Celery's consumer
    from django.conf import settings

    from enllasd_web.worker_status import heartbeat_start

    queues = [queue.name for queue in sender.task_consumer.queues]
    heartbeat_start(hostname=sender.hostname, queues=queues)
    if "sam" in queues and settings.SAM_WARMUP_ON_START:
        # The first click would otherwise wait for torch and the model to load (seconds, more on busy cores).
        sender.app.send_task("inference.tasks.sam_warmup", args=[settings.SAM_DEFAULT_MODEL], queue="sam")


@worker_shutdown.connect
def _heartbeat_stop(**_kwargs) -> None:
    from enllasd_web.worker_status import heartbeat_stop

    heartbeat_stop()
