"""``python manage.py import_openmmlab mmseg|mmpose --config C.py --checkpoint W.pth ...``.

Brings a model trained with OpenMMLab into the model store as a sha256-checked artifact and registers
it as a candidate :class:`~inference.models.ModelVersion`. Examples::

    python manage.py import_openmmlab mmseg --config pspnet_r50.py --checkpoint iter_20000.pth \\
        --class femur=1 --class tibia=2 --name pspnet-r50-ours
    python manage.py import_openmmlab mmpose --config td-hm_hrnet.py --checkpoint best.pth \\
        --leg hip=0,knee=1,ankle=2 --leg hip=3,knee=4,ankle=5 --name hrnet-bilateral
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from inference.backends.base import ArtifactError, sha256_file
from inference.models import ModelKind, ModelVersion


def _pairs(text: str) -> dict[str, str]:
    pairs = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
    if not pairs:
        raise CommandError(f"expected name=value pairs, got {text!r}")
    return {k.strip(): v.strip() for k, v in pairs.items()}


class Command(BaseCommand):
    help = "Import an OpenMMLab (mmsegmentation / mmpose) config + checkpoint as an ensemble member artifact."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("backend", choices=("mmseg", "mmpose"))
        parser.add_argument("--config", type=Path, required=True, help="mmengine config (.py).")
        parser.add_argument("--checkpoint", type=Path, required=True, help="Its checkpoint (.pth).")
        parser.add_argument("--name", required=True, help="Short name for the artifact folder.")
        parser.add_argument("--class", dest="classes", action="append", default=[],
                            help="mmseg: label=model class index (femur=1); repeat for tibia.")
        parser.add_argument("--leg", dest="legs", action="append", default=[],
                            help="mmpose: hip=i,knee=j,ankle=k (model key-point indices); once per leg, "
                                 "image-left leg first.")
        parser.add_argument("--view", default="AP", choices=("AP", "LAT"))

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", options["name"]):
            raise CommandError("--name may hold letters, digits, '.', '_' and '-' only (at most 60)")
        backend = options["backend"]
        class_map = legs = None
        if backend == "mmseg":
            labels = _pairs(",".join(options["classes"])) if options["classes"] else {}
            class_map = {index: label for label, index in labels.items()}
        else:
            try:
                legs = [{k: int(v) for k, v in _pairs(leg).items()} for leg in options["legs"]]
            except ValueError as exc:
                raise CommandError(f"--leg indices must be integers: {exc}") from exc
        relative = Path("imported") / f"{backend}-{options['name']}"
        out_dir = Path(settings.MODEL_STORE) / relative
        from inference.backends.openmmlab import CHECKPOINT_FILE, import_artifact

        try:
            manifest = import_artifact(backend=backend, config_path=options["config"],
                                       checkpoint_path=options["checkpoint"], out_dir=out_dir,
                                       class_map=class_map, legs=legs)
        except (ArtifactError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        version = ModelVersion.objects.create(
            kind=ModelKind.SEGMENTATION if backend == "mmseg" else ModelKind.KEYPOINT,
            architecture=manifest["architecture"], backend=backend, view=options["view"],
            artifact_path=str(relative), sha256=sha256_file(out_dir / CHECKPOINT_FILE),
            config={"imported_from": {"config": str(options["config"]), "checkpoint": str(options["checkpoint"])},
                    **{k: manifest[k] for k in ("class_map", "legs") if k in manifest}},
        )
        self.stdout.write(f"Imported {backend} model into {out_dir} as ModelVersion {version.pk}.")
