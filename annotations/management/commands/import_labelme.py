"""``python manage.py import_labelme DIR|ZIP``: import images with their LabelMe annotations."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.models import Cohort, View
from annotations.services import labelme_bundle_import
from enllasd_web.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import a folder or zip of images and LabelMe JSON files (LabelMe 3.x-5.x)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("path", type=Path, help="Folder or .zip file.")
        parser.add_argument("--cohort", choices=Cohort.values, default=Cohort.UNKNOWN)
        parser.add_argument("--view", choices=View.values, default=View.AP)
        parser.add_argument("--patient-pattern", default=r"^([^_]+)",
                            help="Regex on the file stem; group 1 is the patient code (default: text before '_').")
        parser.add_argument("--patient-prefix", default="", help="Prefix added to every patient code.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        path: Path = options["path"]
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        try:
            report = labelme_bundle_import(
                path=path, user=None, cohort=options["cohort"], view=options["view"],
                patient_pattern=options["patient_pattern"], patient_prefix=options["patient_prefix"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for error in report.errors:
            self.stderr.write(f"warning: {error}")
        self.stdout.write(
            f"{report.images_created} images imported, {report.images_skipped} already present, "
            f"{report.revisions_created} revisions with {report.shapes_imported} shapes, "
            f"{len(report.errors)} warnings."
        )
