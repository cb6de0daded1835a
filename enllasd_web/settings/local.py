"""Local development on one machine: SQLite, local folders, Celery over Redis on 127.0.0.1."""

import os

os.environ.setdefault("ENLLASD_DEV", "1")

from enllasd_web.settings.base import *  # noqa: E402,F403
