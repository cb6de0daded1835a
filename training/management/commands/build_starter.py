"""``python manage.py build_starter --data ../shared/data [--work DIR] [--out models/starter]``.

Trains the starter ensemble shipped in the repository, end to end, from the shared real data:

1. the leg localiser on everything but one EOS fold (fold 0 of 4, 101 images), and its figures on that
   held-out fold (legs found, box IoU, apex and ankle error in mm): the localiser that ships, so that its
   figures and the pipeline's EOS figures (``benchmarks/eos_landmarks.py``) are held out;
2. the landmark refiner (a closer look at each apex and ankle) on the same images without the held-out
   OAI patients, and the localiser's held-out figures again with it;
3. the members (one segmentation and one key-point member, ``training.members`` config ``starter``) on all
   data but the held-out OAI patients;
4. packaging into ``--out``: float16 weights, ensemble.json (``input_mode: leg_crops``), SHA256SUMS; a
   ``MODEL_CARD.md`` already in ``--out`` is kept.

Every step resumes: the localiser and the refiner from their per-epoch checkpoints, the members after the
last one finished (``--work`` keeps them), so a killed run is simply started again.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Train the shipped starter ensemble (localiser + members + stackers) from ../shared/data and package it."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--data", type=Path, required=True, help="The shared data folder (../shared/data).")
        parser.add_argument("--work", type=Path, default=Path("var/starter_build"),
                            help="Where training keeps its checkpoints (resume by running again).")
        parser.add_argument("--out", type=Path, default=Path("models/starter"))
        parser.add_argument("--localiser-epochs", type=int, default=14)
        parser.add_argument("--refiner-epochs", type=int, default=40)

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        from inference.backends import landmark_refiner
        from inference.backends.leg_localiser import load
        from training.starter import (
            evaluate_localiser,
            package_starter,
            train_landmark_refiner,
            train_localiser,
            train_starter_members,
        )

        data, work, out = options["data"], options["work"], options["out"]
        if not (data / "oai-longleg-seg").is_dir() or not (data / "eos-pediatric").is_dir():
            raise CommandError(f"{data} must hold oai-longleg-seg/ and eos-pediatric/ (see ../shared/data/README.md)")
        logging.basicConfig(level=logging.INFO)
        started = time.monotonic()

        def progress(event: dict) -> None:
            self.stdout.write(f"{time.monotonic() - started:7.0f}s {json.dumps(event)}")

        localiser = train_localiser(data, work / "localiser", held_out_fold=0, epochs=options["localiser_epochs"],
                                    progress=progress)
        localiser_model = load(localiser)
        evaluation = {"localiser_held_out": evaluate_localiser(localiser_model, data, fold=0)}
        self.stdout.write(json.dumps(evaluation["localiser_held_out"]))
        refiner = train_landmark_refiner(data, work / "landmark_refiner", held_out_fold=0,
                                         epochs=options["refiner_epochs"], progress=progress)
        evaluation["refined_landmarks_held_out"] = evaluate_localiser(localiser_model, data, fold=0,
                                                                      refiner=landmark_refiner.load(refiner))
        self.stdout.write(json.dumps(evaluation["refined_landmarks_held_out"]))
        train_starter_members(data, work / "members", progress=progress)
        manifest = package_starter(work / "members", localiser, out, refiner_dir=refiner, evaluation=evaluation)
        self.stdout.write(manifest["evaluation"].get("table_ii", ""))
        self.stdout.write(f"Starter written to {out} in {time.monotonic() - started:.0f} s.")
