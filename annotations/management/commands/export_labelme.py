"""``python manage.py export_labelme --out DIR``: write each image's head revision as LabelMe 5.x."""

from pathlib import Path

from django.core.management.base import BaseCommand

from annotations.selectors import image_list
from annotations.services import labelme_export


class Command(BaseCommand):
    help = "Export the head revision of every annotated image as LabelMe 5.x JSON plus its image file."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--case", type=int, help="Only this case id.")
        parser.add_argument("--embed-image-data", action="store_true", help="Embed the image as imageData.")
        parser.add_argument("--no-images", action="store_true", help="Write only the JSON files.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        images = image_list(case_id=options["case"])
        written = labelme_export(
            images=images.iterator(chunk_size=200), out_dir=options["out"],
            embed_image_data=options["embed_image_data"], with_images=not options["no_images"],
        )
        self.stdout.write(f"{written} LabelMe files written to {options['out']}")
