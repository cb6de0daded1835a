"""``python manage.py sam_tune --data DIR --out RUN_DIR [--cv 4] [--folds 0,1] [--epochs E] ...``.

Tunes LiteMedSAM's mask decoder and prompt encoder on femur/tibia outlines (:mod:`inference.sam.tuning`):

- without ``--cv``: trains on every image and writes the tuned weights (``--export``, default
  ``RUN_DIR/litemedsam_bone.pt`` plus its ``.sha256``) and ``RUN_DIR/train.json`` (history);
- with ``--cv K``: grouped K-fold cross-validation by patient (:func:`training.core.kfold.grouped_kfold`):
  per fold, IoU of the untuned and the tuned decoder on the held-out images (box +5 %, one click at
  the deepest interior point, both, and pre-labelling's leg-box prompts), in
  ``RUN_DIR/fold-<k>/eval.json``, then ``RUN_DIR/cv_report.json`` and tables over the finished folds
  (saying which when some are missing). ``--folds`` runs some folds only (to share them between
  processes); rerun without it, or with the rest, to finish.

Resumable: image embeddings are cached (``--embeddings``, default ``MEDIA_ROOT/sam_embeddings``), each
training run checkpoints every epoch, a finished fold is not redone. Rerun the same command to go on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def _table(summary: dict[str, dict[str, float]]) -> list[str]:
    lines = [f"{'bone/prompt':18} {'n':>4} {'mean':>6} {'median':>6} {'p10':>6} {'p90':>6}"]
    for key, s in summary.items():
        lines.append(f"{key:18} {s['n']:4d} {s['mean']:6.3f} {s['median']:6.3f} {s['p10']:6.3f} {s['p90']:6.3f}")
    return lines


def _kind_weights(text: str) -> tuple[float, float, float, float]:
    try:
        weights = tuple(float(v) for v in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 4 or min(weights) < 0 or sum(weights) <= 0:
        raise CommandError(f"--kind-weights needs four shares >= 0 (box, clicks, clicks+neg, box+click), got {text!r}")
    return weights  # type: ignore[return-value]


class Command(BaseCommand):
    help = "Tune the SAM bone model (decoder) on femur/tibia outlines; --cv K measures it by grouped K-fold CV."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--data", type=Path, action="append", default=[],
                            help="Folder of images + LabelMe files with one femur and one tibia (repeatable).")
        parser.add_argument("--group-pattern", default=r"^([^_]+)", help="Patient = first group of the file stem.")
        parser.add_argument("--phantoms", type=int, default=24, help="Synthetic one-leg phantoms added (default 24).")
        parser.add_argument("--limit", type=int, default=None, help="First N images of each folder only.")
        parser.add_argument("--out", type=Path, required=True, help="Run folder (checkpoints, reports).")
        parser.add_argument("--export", type=Path, default=None, help="Tuned weights file (default RUN_DIR/...pt).")
        parser.add_argument("--cv", type=int, default=0, help="Grouped K-fold cross-validation instead of training.")
        parser.add_argument("--folds", default=None, help="Comma-separated folds to run now (with --cv).")
        parser.add_argument("--epochs", type=int, default=12)
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--lr", type=float, default=1e-4)
        parser.add_argument("--examples-per-image", type=int, default=2)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--deep-click-share", type=float, default=0.0,
                            help="Share of training clicks in the bone's deepest part, next to the knee (default 0).")
        parser.add_argument("--kind-weights", default="0.25,0.35,0.25,0.15",
                            help="Shares of the prompt kinds box, clicks, clicks+neg, box+click (default 0.25,0.35,0.25,0.15).")
        parser.add_argument("--refine-share", type=float, default=0.4,
                            help="Share of click-only examples trained with a box of the bone, as the refining "
                                 "stage decodes them; the rest in the whole image, the coarse stage (default 0.4).")
        parser.add_argument("--single-click-share", type=float, default=1 / 3,
                            help="Share of click examples with a single click (default 1/3).")
        parser.add_argument("--init", type=Path, default=None,
                            help="Start from this tuned weights file (without --cv) or, with --cv, from "
                                 "INIT/fold-<k>/checkpoint.pt of an earlier cross-validation run.")
        parser.add_argument("--embeddings", type=Path, default=None,
                            help="Embedding cache folder (default MEDIA_ROOT/sam_embeddings).")
        parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1).")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        import torch

        from inference.sam.bone import LiteMedSamBone
        from inference.sam.embedding_cache import EmbeddingCache
        from inference.sam.tuning import TuneConfig, embed_samples, evaluate, export_tuned, train_decoder
        from inference.sam.tuning_data import load_labelme_bones, phantom_bones

        torch.set_num_threads(options["threads"])
        samples = []
        for folder in options["data"]:
            if not folder.is_dir():
                raise CommandError(f"{folder} is not a folder.")
            found = load_labelme_bones(folder, group_pattern=options["group_pattern"], limit=options["limit"])
            self.stderr.write(f"{folder}: {len(found)} images with one femur and one tibia")
            samples.extend(found)
        samples.extend(phantom_bones(options["phantoms"]))
        if len(samples) < max(2, options["cv"]):
            raise CommandError("Too few images to tune on (give --data or --phantoms).")
        config = TuneConfig(epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"],
                            seed=options["seed"], examples_per_image=options["examples_per_image"],
                            deep_click_share=options["deep_click_share"],
                            kind_weights=_kind_weights(options["kind_weights"]), refine_share=options["refine_share"],
                            single_click_share=options["single_click_share"])
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        root = Path(settings.MODEL_STORE) / "litemedsam"
        cache = EmbeddingCache(options["embeddings"] or Path(settings.MEDIA_ROOT) / "sam_embeddings", memory_items=0)
        base = LiteMedSamBone.load_tuned(root=root, weights=None)
        embeddings = embed_samples(samples, base, cache, progress=self.stderr.write)

        def start(fold: int | None) -> LiteMedSamBone:
            init = options["init"]
            if init is not None and fold is not None:
                checkpoint = torch.load(init / f"fold-{fold}" / "checkpoint.pt", map_location="cpu", weights_only=True)
                segmenter = LiteMedSamBone.load_tuned(root=root, weights=None)
                segmenter.mask_decoder.load_state_dict(checkpoint["mask_decoder"])
                segmenter.prompt_encoder.load_state_dict(checkpoint["prompt_encoder"])
                return segmenter
            return LiteMedSamBone.load_tuned(root=root, weights=init)

        if not options["cv"]:
            segmenter = start(None)
            history = train_decoder(segmenter, samples, embeddings, config=config, run_dir=out / "train",
                                    progress=self.stderr.write)
            meta = {"config": config.__dict__, "images": len(samples), "sources": [Path(p).name for p in options["data"]],  # folder names: no machine paths
                    "phantoms": options["phantoms"], "epochs_done": len(history),
                    "init": None if options["init"] is None else str(options["init"])}
            export = options["export"] or out / "litemedsam_bone.pt"
            digest = export_tuned(segmenter, export, meta=meta)
            (out / "train.json").write_text(json.dumps({**meta, "history": history, "sha256": digest}, indent=1))
            self.stdout.write(f"tuned on {len(samples)} images, {len(history)} epochs -> {export} (sha256 {digest})")
            return

        from training.core.kfold import grouped_kfold

        folds = grouped_kfold([s.group for s in samples], n_folds=options["cv"], seed=options["seed"])
        wanted = range(options["cv"]) if options["folds"] is None else [int(f) for f in options["folds"].split(",")]
        for fold in wanted:
            fold_dir = out / f"fold-{fold}"
            if (fold_dir / "eval.json").is_file():
                continue
            train = [samples[i] for i in folds.train_indices(fold)]
            test = [samples[i] for i in folds.test_indices(fold)]
            before = evaluate(base, test, embeddings)  # LiteMedSAM's own decoder, bone windows
            segmenter = start(fold)
            history = train_decoder(segmenter, train, embeddings, config=config, run_dir=fold_dir, fold=fold,
                                    progress=lambda line, f=fold: self.stderr.write(f"fold {f}: {line}"))
            after = evaluate(segmenter, test, embeddings)
            result = {"fold": fold, "train": [s.key for s in train], "test": [s.key for s in test],
                      "history": history, "before": before, "after": after}
            temporary = fold_dir / "eval.json.tmp"
            temporary.write_text(json.dumps(result))
            os.replace(temporary, fold_dir / "eval.json")
            self.stderr.write(f"fold {fold}: " + "; ".join(
                f"{k} {before['summary'][k]['mean']:.3f} -> {v['mean']:.3f}" for k, v in after["summary"].items()))
        report = self._aggregate(out, options["cv"])
        if report is None:
            self.stdout.write("no fold is finished yet; rerun to go on")
            return
        done = report["folds_done"]
        scope = f"{options['cv']}-fold held-out" if len(done) == options["cv"] else \
            f"held-out folds {', '.join(map(str, done))} of {options['cv']} only"
        for part in ("before", "after"):
            for source, summary in report[part].items():
                self.stdout.write(f"\n{part} tuning, {source} ({scope}):")
                self.stdout.write("\n".join(_table(summary)))
        if len(done) < options["cv"]:
            self.stdout.write("\nsome folds are not finished yet; rerun to go on")

    @staticmethod
    def _aggregate(out: Path, n_folds: int) -> dict[str, Any] | None:
        from inference.sam.tuning_prompts import summarize_rows

        paths = [out / f"fold-{f}" / "eval.json" for f in range(n_folds)]
        results = [json.loads(p.read_text()) for p in paths if p.is_file()]
        if not results:
            return None
        report: dict[str, Any] = {"folds": n_folds, "folds_done": [r["fold"] for r in results],
                                  "test_sizes": [len(r["test"]) for r in results]}
        for part in ("before", "after"):
            rows = [row for r in results for row in r[part]["per_image"]]
            report[part] = {}
            for source in ("real", "phantom"):
                summary = summarize_rows([row for row in rows
                                          if row["key"].startswith("phantom-") == (source == "phantom")])
                if summary:
                    report[part][source] = summary
        (out / "cv_report.json").write_text(json.dumps(report, indent=1))
        return report
