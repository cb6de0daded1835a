"""``python manage.py sam_outline --prompts PROMPTS.json --out RESULTS.json [--model NAME]``.

PROMPTS.json: a list of ``{"image": path, "box": [x0, y0, x1, y1] | null, "points": [[x, y], ...],
"labels": [1 | 0, ...]}``; RESULTS.json: the list, in the same order, of ``{"polygons": [[[x, y],
...], ...], "score": float}`` in original image pixels (contract: architecture §6; details in
:mod:`inference.sam.outline_batch`). One process for the whole list: the model loads once and each
image is embedded once. Bad input stops the command with an error naming the item before any model
is loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.sam.outline_batch import PromptFileError, outline_prompts, parse_prompt_list
from inference.sam.promptable import SamUnavailable
from inference.sam.registry import get_segmenter, model_availability, model_names


class Command(BaseCommand):
    help = "Outline objects from box/click prompts with a SAM model; writes one result per prompt."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--prompts", type=Path, required=True, help="JSON list of prompts.")
        parser.add_argument("--out", type=Path, required=True, help="Where to write the JSON list of results.")
        parser.add_argument("--model", default=None, help=f"SAM model (default: SAM_DEFAULT_MODEL); one of "
                                                           f"{', '.join(model_names())}.")
        parser.add_argument("--tolerance-px", type=float, default=1.5,
                            help="Douglas-Peucker tolerance of the outlines (default 1.5).")
        parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own).")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        name = options["model"] or settings.SAM_DEFAULT_MODEL
        if name not in model_names():
            raise CommandError(f"Unknown SAM model {name!r}; known: {', '.join(model_names())}.")
        availability = model_availability(name)
        if not availability.available:
            raise CommandError(availability.message)
        if options["tolerance_px"] < 0:
            raise CommandError("--tolerance-px must be >= 0.")
        path: Path = options["prompts"]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{path} is not valid JSON: {exc}") from exc

        def load_model():  # noqa: ANN202
            if options["threads"]:
                import torch

                torch.set_num_threads(options["threads"])
            return get_segmenter(name)

        try:
            items = parse_prompt_list(data, base_dir=path.resolve().parent)
            results = outline_prompts(items, load_model, tolerance_px=options["tolerance_px"],
                                      max_pixels=settings.ENLLASD_MAX_IMAGE_PIXELS,
                                      progress=lambda line: self.stderr.write(line))
        except PromptFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except SamUnavailable as exc:
            raise CommandError(str(exc)) from exc
        out: Path = options["out"]
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(f".{out.name}.tmp")
        temporary.write_text(json.dumps(results), encoding="utf-8")
        os.replace(temporary, out)
        self.stdout.write(f"{len(results)} outlines by {name} -> {out}")
