"""Test settings: real PostgreSQL and Redis on 127.0.0.1 (see scripts/test)."""

import os

os.environ.setdefault("ENLLASD_DEV", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/enllasd")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("MEDIA_ROOT", "var/test-media")
os.environ.setdefault("MODEL_STORE", "var/test-model-store")

from enllasd_web.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
