"""``python manage.py train --config tiny|default|paper --data DIR [...]``: train and register an ensemble."""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError

from enllasd_web.exceptions import ApplicationError
from training.models import RunStatus
from training.runs import training_run_execute
from training.services import CONFIG_NAMES, training_run_create


class Command(BaseCommand):
    help = "Train the k-fold ensemble (members, out-of-fold stacking, evaluation) and register it."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--config", choices=CONFIG_NAMES, default="tiny")
        parser.add_argument("--data", action="append", default=[], help="LabelMe folder (repeatable).")
        parser.add_argument("--phantoms", type=int, default=0, help="Add N synthetic single-leg phantoms.")
        parser.add_argument("--group-pattern", default=r"^([^_]+)",
                            help="Regex on the file stem; group 1 is the patient (folds never split one).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--activate", action="store_true", help="Make the new ensemble active.")
        parser.add_argument("--queue", action="store_true", help="Run on the Celery training queue instead.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        try:
            run = training_run_create(
                config_name=options["config"], data_dirs=[str(d) for d in options["data"]],
                phantoms=options["phantoms"], seed=options["seed"], activate=options["activate"],
                group_pattern=options["group_pattern"],
                enqueue=options["queue"],
            )
            if options["queue"]:
                self.stdout.write(f"Training run {run.pk} queued on the training queue.")
                return
            run = training_run_execute(run=run)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Training run {run.pk} ended {run.status}: {run.error[:2000]}")
        self.stdout.write(run.metrics.get("table_ii", ""))
        self.stdout.write(json.dumps(run.metrics.get("keypoints", {}), indent=2))
        self.stdout.write(f"Training run {run.pk} succeeded; ensemble {run.progress.get('ensemble_version')}.")
