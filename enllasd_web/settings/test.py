"""Test settings: real PostgreSQL and Redis on 127.0.0.1 (see scripts/test)."""

import os

os.environ.setdefault("ENLLASD_DEV", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/enllasd")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("MEDIA_ROOT", "var/test-media")
os.environ.setdefault("MODEL_STORE", "var/test-model-store")

from enllasd_web.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Test workers load a SAM model only when a test asks them to (tests/reliability/test_worker_layout.py does).
SAM_WARMUP_ON_START = env_bool("SAM_WARMUP_ON_START", False)  # noqa: F405

# Test sessions that run at the same time on one machine (developers, CI) must not share a test
# database or Celery queues: each session gets its own id, inherited by the worker processes it starts.
TEST_RUN_ID = os.environ.setdefault("ENLLASD_TEST_RUN_ID", str(os.getpid()))
DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_enllasd_{TEST_RUN_ID}"  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405 - tests open and drop databases; no connection outlives a test
BROKER_PREFIX = f"enllasd-test-{TEST_RUN_ID}:"
CELERY_BROKER_TRANSPORT_OPTIONS = {**CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": BROKER_PREFIX}  # noqa: F405
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": BROKER_PREFIX}
