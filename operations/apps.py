from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the whole install: re-queueing lost jobs (``requeue_pending``, Celery beat) and the demo data
    (``demo``). The top layer: it may use every app and no app uses it (docs/architecture.md, "Layers")."""

    name = "operations"
    verbose_name = "Operations"
