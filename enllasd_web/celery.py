"""The Celery application. Workers: ``celery -A enllasd_web worker -Q default,inference,training,sam``."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enllasd_web.settings.local")

app = Celery("enllasd_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "inference", "training", "sam")]
app.autodiscover_tasks()
