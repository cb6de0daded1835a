"""``python manage.py phantom --n N --out DIR [--seed S] [--legs 1|2] [--low-snr]``.

Writes synthetic AP long-leg radiographs (``<stem>.png``), their LabelMe truth (``<stem>.json``) and
``truth.json`` (exact construction angles in the alignment JSON contract) into ``DIR``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inference.core.phantom import write_phantom_set


class Command(BaseCommand):
    help = "Write synthetic AP long-leg radiographs with LabelMe truth and a truth.json of exact angles."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--n", type=int, required=True, help="Number of phantoms.")
        parser.add_argument("--out", type=Path, required=True, help="Output folder (created if needed).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--legs", type=int, choices=(1, 2), default=2,
                            help="2: bilateral 1024x2048 (default); 1: single leg 512x1024.")
        parser.add_argument("--low-snr", action="store_true", help="Low-contrast, noisy images.")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if options["n"] < 1:
            raise CommandError("--n must be at least 1")
        paths = write_phantom_set(options["out"], n=options["n"], seed=options["seed"], legs=options["legs"],
                                  low_snr=options["low_snr"])
        self.stdout.write(f"wrote {len(paths)} phantoms and truth.json to {options['out']}")
