"""``python manage.py predict IMAGE... --out DIR [--ensemble active|ID] [--anatomical-side right|left]``.

Writes ``<stem>.json`` (LabelMe: femur/tibia polygons, hip/knee/ankle points per leg) and
``<stem>.alignment.json`` (the alignment contract) for each image.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotations.core.imaging import ImageDecodeError, decode_image
from enllasd_web.exceptions import ApplicationError
from inference.selectors import ensemble_directory
from inference.services import result_files
from inference.starter import resolve_ensemble


class Command(BaseCommand):
    help = "Run the ensemble on image files and write LabelMe + alignment JSON per image."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("images", nargs="+", type=Path)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--ensemble", default="active", help="'active' (default) or an ensemble id.")
        parser.add_argument("--anatomical-side", choices=["right", "left"],
                            help="Patient side of a single-leg image (else found by the leg localiser / anatomy).")
        parser.add_argument("--pixel-spacing", type=float, help="mm per pixel (overrides DICOM spacing).")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        from inference.ensemble_store import load_ensemble
        from inference.pipeline import run_ensemble

        try:
            version = resolve_ensemble(options["ensemble"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        ensemble = load_ensemble(ensemble_directory(version))
        failures = 0
        for path in options["images"]:
            try:
                decoded = decode_image(path.read_bytes(), filename=path.name)
            except (OSError, ImageDecodeError) as exc:
                self.stderr.write(f"{path}: {exc}")
                failures += 1
                continue
            spacing = options["pixel_spacing"] or decoded.pixel_spacing_mm
            result = run_ensemble(decoded.display, ensemble, image_name=path.name, pixel_spacing_mm=spacing,
                                  anatomical_side=options["anatomical_side"], dicom=decoded.dicom_safe_metadata,
                                  seed=options["seed"])
            labelme_path, alignment_path = result_files(result, out_dir=options["out"], stem=path.stem)
            legs = ", ".join(
                f"{leg.anatomical_side or leg.image_side}: HKA dev {leg.metrics['hka_deviation_deg'].value:+.1f}°"
                if leg.metrics.get("hka_deviation_deg") else f"{leg.anatomical_side or leg.image_side}: HKA n/a"
                for leg in result.alignment.legs
            ) or "no leg measured (" + "; ".join(f for f in result.flags if "outside_intended_use" in f) + ")"
            self.stdout.write(f"{path.name}: {legs} ({result.timings['total']:.1f} s) -> {alignment_path}")
        if failures:
            raise CommandError(f"{failures} of {len(options['images'])} images could not be read.")
