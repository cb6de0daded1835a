"""Settings come from the environment; production refuses to start without a secret and passes --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ENLLASD_DEV", "DEBUG", "DATABASE_URL"}}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_key_settings_exist():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_SERIALIZER == "json" and settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_TIME_LIMIT > 0 and settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == "enllasd_web.exceptions.api_exception_handler"
    for name in ("MEDIA_ROOT", "MODEL_STORE", "REDIS_URL", "ENLLASD_MAX_IMAGE_PIXELS"):
        assert getattr(settings, name)


def test_secret_key_is_required_without_the_dev_flag():
    result = _run("import enllasd_web.settings.base")
    assert result.returncode != 0 and "SECRET_KEY is required" in result.stderr


def test_defaults_debug_off_and_sqlite_under_var():
    result = _run("import enllasd_web.settings.base as s; print(s.DEBUG, s.DATABASES['default']['ENGINE'], "
                  "str(s.DATABASES['default']['NAME']).endswith('var/enllasd.sqlite3'))", SECRET_KEY="x" * 60)
    assert result.stdout.split() == ["False", "django.db.backends.sqlite3", "True"], result.stderr


def test_database_url_and_bad_values_from_environment():
    result = _run("import enllasd_web.settings.base as s; print(s.DATABASES['default']['NAME'])",
                  SECRET_KEY="x" * 60, DATABASE_URL="postgres://u:p@db:5432/clinic")
    assert result.stdout.strip() == "clinic"
    bad = _run("import enllasd_web.settings.base", SECRET_KEY="x" * 60, DEBUG="maybe")
    assert bad.returncode != 0 and "DEBUG must be a boolean" in bad.stderr


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
             "DJANGO_SETTINGS_MODULE": "enllasd_web.settings.production",
             "SECRET_KEY": "p7Qw-" + "k3Jz9LmX2vB8nR4tY6uW1eA5sD0fG7hC" * 2, "ENLLASD_DEV": "0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_numeric_core_imports_without_django_celery_or_torch():
    code = (
        "import importlib, pkgutil, sys\n"
        "import inference.core, training.core, annotations.core\n"
        "for package in (inference.core, training.core, annotations.core):\n"
        "    for module in pkgutil.walk_packages(package.__path__, prefix=f'{package.__name__}.'):\n"
        "        importlib.import_module(module.name)\n"
        "bad = [m for m in ('django', 'rest_framework', 'celery', 'torch') if m in sys.modules]\n"
        "print('forbidden:', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forbidden: []"


def test_upload_name_policy_is_checked_at_start():
    bad = _run("import enllasd_web.settings.base", SECRET_KEY="x" * 60, ENLLASD_UPLOAD_NAMES="hide")
    assert bad.returncode != 0 and "ENLLASD_UPLOAD_NAMES='hide'" in bad.stderr
    default = _run("import enllasd_web.settings.base as s; print(s.ENLLASD_UPLOAD_NAMES)", SECRET_KEY="x" * 60)
    assert default.stdout.strip() == "keep-non-dicom", default.stderr
