"""``python manage.py starter_ensemble``: register the starter shipped in models/starter (idempotent).

It becomes the active ensemble of its view when none is active, and predictions are requested for
the images that have none (``scripts/run`` runs this on every start).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Register the repository's starter ensemble (models/starter) and activate it when none is active."

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        from inference.models import VersionStatus
        from inference.services import predictions_request_missing
        from inference.starter import starter_ensemble_register

        try:
            ensemble = starter_ensemble_register()
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        if ensemble.status == VersionStatus.ACTIVE:
            predictions_request_missing(ensemble=ensemble)
        self.stdout.write(f"Starter ensemble {ensemble.pk} ({ensemble.name}): {ensemble.status}.")
