"""``python manage.py align FILE.json [--image IMG] [--out OUT.json] [--pixel-spacing MM] [--seed S]``.

Derives the alignment of a LabelMe document from its own ``femur``/``tibia`` polygons and
``hip``/``knee``/``ankle`` points and prints the alignment JSON (or writes it to ``--out``).
``--image`` supplies the image size and name when the document lacks ``imageWidth``/``imageHeight``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.core.labelme_alignment import align_labelme_document


class Command(BaseCommand):
    help = "Alignment (angles with Monte-Carlo spread) from a LabelMe document's polygons and joint points."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path, help="LabelMe JSON document.")
        parser.add_argument("--image", type=Path, help="The image, for its size and name.")
        parser.add_argument("--out", type=Path, help="Write the result here instead of stdout.")
        parser.add_argument("--pixel-spacing", type=float, help="mm per pixel (MAD is then reported in mm).")
        parser.add_argument("--seed", type=int, default=0, help="Monte-Carlo seed.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        try:
            doc = json.loads(options["file"].read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"{options['file']}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CommandError(f"{options['file']}: not a LabelMe document")
        image_size = None
        image: Path | None = options["image"]
        if image is not None:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(image) as im:
                    image_size = im.size  # (width, height)
            except (OSError, UnidentifiedImageError) as exc:
                raise CommandError(f"{image}: {exc}") from exc
            if doc.get("imageWidth") and doc.get("imageHeight"):
                image_size = None  # the document's own size wins; the image only names it
            if not doc.get("imagePath"):
                doc = {**doc, "imagePath": image.name}
        try:
            result = align_labelme_document(
                doc, image_size=image_size, pixel_spacing_mm=options["pixel_spacing"], seed=options["seed"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(result.to_json(), indent=2, allow_nan=False)
        if options["out"]:
            options["out"].write_text(text + "\n")
            self.stdout.write(f"wrote {options['out']}")
        else:
            self.stdout.write(text)
