"""``python manage.py demo``: seed a fresh installation with synthetic phantom radiographs to look at.

Phantoms are generated (never patient images), imported as patients ``DEMO-*`` with their exact
LabelMe truth as the first revision, dated :data:`DEMO_VISIT_DATE` (an undated case has no place on a
timeline); then ``DEMO_REVIEW_PER_KIND`` phantoms of each kind as images only (patients ``DEMO-NEW-*``), as
a surgeon's uploads arrive: the active ensemble predicts them and, having no approved outlines, they
wait in the review queue ordered by the prediction's uncertainty (their construction truth stays in
``incoming<legs>/truth.json`` beside the images, for ``benchmarks/demo_phantoms.py``); plus the
follow-up patient :data:`FOLLOW_UP_CODE` of ``clinical_demo`` (four dated visits of increasing varus),
so a new user finds a populated patient timeline. Running it again adds nothing.
"""

from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from annotations.models import Case, Cohort, Patient
from clinical.demo import follow_up_demo_create
from annotations.services import labelme_bundle_import
from inference.core.phantom import (
    DEMO_PER_KIND,
    DEMO_REVIEW_PER_KIND,
    DEMO_REVIEW_SEED,
    DEMO_SEED,
    write_phantom_set,
)


DEMO_VISIT_DATE = date(2025, 1, 15)
FOLLOW_UP_CODE = "DEMO-SD-007"


class Command(BaseCommand):
    help = "Seed demo data: synthetic bilateral and single-leg phantom radiographs with LabelMe truth."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--n", type=int, default=DEMO_PER_KIND,
                            help="Phantoms with outlines per kind (bilateral, single leg).")
        parser.add_argument("--seed", type=int, default=DEMO_SEED)

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        folder = Path(settings.MEDIA_ROOT).parent / "demo-phantoms"
        for legs in (2, 1):
            target = folder / f"legs{legs}"
            if not (target / "truth.json").exists():
                write_phantom_set(target, n=options["n"], seed=options["seed"] + legs, legs=legs)
            self._import(target, prefix=f"DEMO-{legs}LEG-", what=f"{legs}-leg phantoms with outlines")
        for legs in (2, 1):
            target = folder / f"incoming{legs}"
            if not (target / "truth.json").exists():
                write_phantom_set(target / "images", n=DEMO_REVIEW_PER_KIND, seed=DEMO_REVIEW_SEED + legs, legs=legs,
                                  labelme=False, truth_path=target / "truth.json")
            self._import(target / "images", prefix=f"DEMO-NEW-{legs}LEG-", what=f"{legs}-leg phantoms to review")
        dated = Case.objects.filter(patient__code__startswith="DEMO-", acquisition_date__isnull=True).update(
            acquisition_date=DEMO_VISIT_DATE)
        if dated:
            self.stdout.write(f"{dated} demo case{'' if dated == 1 else 's'} dated {DEMO_VISIT_DATE.isoformat()}")
        if not Patient.objects.filter(code=FOLLOW_UP_CODE).exists():
            patient = follow_up_demo_create(code=FOLLOW_UP_CODE, user=None)
            self.stdout.write(f"follow-up patient {patient.code}: /patients/{patient.pk}/timeline/")

    def _import(self, path: Path, *, prefix: str, what: str) -> None:
        """Import a phantom folder as patients ``prefix<stem>``, once: their cases are dated after the first run,
        and an import goes to undated cases, so a second import would add the images again."""
        if Patient.objects.filter(code__startswith=prefix).exists():
            self.stdout.write(f"{what}: already present")
            return
        report = labelme_bundle_import(path=path, user=None, cohort=Cohort.UNKNOWN, patient_pattern=r"^(.*)$",
                                       patient_prefix=prefix)
        self.stdout.write(f"{what}: {report.images_created} imported")
