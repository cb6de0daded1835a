"""Benchmark: grouped k-fold CV of the smp segmentation members of a config on a LabelMe folder.

For every fold f (grouped by patient, :func:`training.core.kfold.grouped_kfold`, seed 42) and every
segmentation member of ``--config`` (``training.members.SEGMENTATION_CONFIGS``), train on the other
folds, load the artifact through the registry (sha256 checked), predict fold f's images and print
one row per (member, fold): pooled held-out IOU of femur and tibia, training seconds, seconds per
epoch and prediction ms per image. After each fold the majority vote of the members of that fold is
printed too; at the end the nested logistic stacking of spec §3.3 (F x 4 parts,
:mod:`training.core.stacking`) is fitted on the held-out predictions and its held-out pooled IOU
is printed beside majority and the members (mean over the (fold, part) cells).
``--save-oof DIR`` writes every held-out prediction as
``DIR/<architecture>/<stem>.npz`` (key ``label_map``, (H, W) uint8 0/1/2, plus ``fold``) and
``DIR/folds.json`` (stem -> fold, member order, config), so stackers can be fitted on them later.

Usage::

    python benchmarks/segmentation_members.py --config default --save-oof var/oof/default
    python benchmarks/segmentation_members.py --config tiny --folds 0 --archs FPN,Unet
    python benchmarks/segmentation_members.py --config default --set epochs=4 --set input_size=[256,32]
    python benchmarks/segmentation_members.py --config default --from-oof var/seg_oof/default  # stacking only

The data folder defaults to ``<repo>/../shared/data/oai-longleg-seg`` (``ENLLASD_SHARED_DATA``
overrides ``<repo>/../shared/data``). Torch threads default to 2; ``OMP_WAIT_POLICY=PASSIVE`` is set
unless already set, because spinning OpenMP threads slow training several-fold when other processes
share the cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference.backends.base import MemberSpec  # noqa: E402
from inference.backends.registry import get_backend, load_member  # noqa: E402
from inference.core.metrics import ConfusionCounts, class_confusion  # noqa: E402
from inference.core.segmentation_ensemble import majority_vote  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402
from training.core.datasets import load_labelme_folder  # noqa: E402
from training.core.kfold import grouped_kfold  # noqa: E402
from training.core.stacking import (  # noqa: E402
    evaluate_held_out,
    fit_nested_stackers_from_counts,
    image_pattern_counts,
)
from training.members import SEGMENTATION_CONFIGS  # noqa: E402


def _pooled(counts: list[ConfusionCounts]) -> float:
    total = ConfusionCounts(0, 0, 0, 0)
    for c in counts:
        total = total + c
    return total.iou


def _scores(preds: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, float]:
    fem = [class_confusion(p, t, 1) for p, t in zip(preds, truths)]
    tib = [class_confusion(p, t, 2) for p, t in zip(preds, truths)]
    return _pooled(fem), _pooled(tib)


def _override(spec: MemberSpec, overrides: dict[str, object]) -> MemberSpec:
    if not overrides:
        return spec
    params = dict(spec.params)
    for key, value in overrides.items():
        if key.startswith("augment."):
            aug = dict(params.get("augment", {}))
            aug[key.split(".", 1)[1]] = value
            params["augment"] = aug
        else:
            params[key] = value
    return dataclasses.replace(spec, params=params)


def _stacking_summary(counts_per_fold: list[np.ndarray], names: list[str]) -> None:
    """Fit the nested stackers on out-of-fold pattern counts; print mean held-out pooled IOUs."""
    nested = fit_nested_stackers_from_counts(counts_per_fold, model_order=names, n_parts=4, seed=42,
                                             reference_mode=False)
    ev = evaluate_held_out(nested)
    print(f"\n# nested stacking over {len(counts_per_fold)} fold(s) x 4 parts: mean (min) held-out pooled IOU "
          f"over {len(ev.fold_parts)} (fold, part) cells", flush=True)
    for method in ev.methods:
        fem, tib = ev.pooled[(method, "femur")], ev.pooled[(method, "tibia")]
        print(f"{method:<14} femur {np.mean(fem):.4f} ({np.min(fem):.4f})  tibia {np.mean(tib):.4f} "
              f"({np.min(tib):.4f})", flush=True)


def _from_oof(oof: Path, samples: list, names: list[str] | None) -> int:
    index = json.loads((oof / "folds.json").read_text())
    names = names or index["members"]
    by_name = {s.name: s for s in samples}
    counts_per_fold = []
    for fold in range(index["n_folds"]):
        stems = sorted(k for k, f in index["fold_of"].items() if f == fold)
        if not all((oof / n / f"{stem}.npz").is_file() for n in names for stem in stems):
            print(f"# fold {fold}: held-out predictions incomplete, skipped", flush=True)
            continue
        counts_per_fold.append(np.stack([
            image_pattern_counts(np.stack([np.load(oof / n / f"{stem}.npz")["label_map"] for n in names]),
                                 by_name[stem].label_map)
            for stem in stems
        ]))
    if not counts_per_fold:
        print("# no complete fold", flush=True)
        return 1
    _stacking_summary(counts_per_fold, names)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="default", choices=sorted(SEGMENTATION_CONFIGS))
    parser.add_argument("--data", type=Path, default=None, help="LabelMe folder (default: OAI crops)")
    parser.add_argument("--folds", default=None, help="comma-separated fold indices (default: all)")
    parser.add_argument("--n-folds", type=int, default=4)
    parser.add_argument("--archs", default=None, help="comma-separated architectures (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override a param of every member, e.g. epochs=4 or augment.hflip=0.5")
    parser.add_argument("--save-oof", type=Path, default=None, help="folder for held-out predictions")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep artifacts here (default: temp)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="member seed = seed + fold")
    parser.add_argument("--json", type=Path, default=None, help="append result rows here (JSON lines)")
    parser.add_argument("--from-oof", type=Path, default=None,
                        help="train nothing: fit and evaluate the stackers on predictions saved by --save-oof")
    parser.add_argument("--verbose", action="store_true", help="print every epoch's loss (stderr)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    specs = [_override(s, overrides) for s in SEGMENTATION_CONFIGS[args.config]]
    if args.archs:
        wanted = args.archs.split(",")
        specs = [s for s in specs if s.architecture in wanted]
        if not specs:
            parser.error(f"no member of {args.config!r} among {wanted}")
    data = args.data or shared_data_dir() / "oai-longleg-seg"
    if not data.is_dir():
        print(f"data folder {data} not found", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    samples = load_labelme_folder(data, joints_from="none")
    print(f"# {len(samples)} samples from {data} in {time.perf_counter() - t0:.1f} s; config {args.config}; "
          f"threads {args.threads}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}", flush=True)
    if args.from_oof:
        return _from_oof(args.from_oof, samples, args.archs.split(",") if args.archs else None)
    for s in specs:
        print(f"# member {s.architecture}: {json.dumps(s.params, sort_keys=True)}", flush=True)
    assignment = grouped_kfold([s.group or s.name for s in samples], n_folds=args.n_folds, seed=42)
    folds = [int(f) for f in args.folds.split(",")] if args.folds else list(range(args.n_folds))
    if args.save_oof:
        args.save_oof.mkdir(parents=True, exist_ok=True)
        index = {
            "config": args.config,
            "members": [s.architecture for s in specs],
            "specs": {s.architecture: s.params for s in specs},
            "fold_of": {s.name: int(f) for s, f in zip(samples, assignment.fold_of_image)},
            "n_folds": args.n_folds,
            "kfold_seed": 42,
            "data": str(data),
        }
        (args.save_oof / "folds.json").write_text(json.dumps(index, indent=1, sort_keys=True))
    work_root = args.work_dir or Path(tempfile.mkdtemp(prefix="segbench_"))

    header = f"{'arch':<14} {'fold':>4} {'femur':>7} {'tibia':>7} {'train_s':>8} {'s/epoch':>8} {'epochs':>6} {'pred_ms':>8}"
    print(header, flush=True)
    rows = []
    counts_per_fold = []
    for fold in folds:
        train = [samples[i] for i in assignment.train_indices(fold)]
        test = [samples[i] for i in assignment.test_indices(fold)]
        truths = [s.label_map for s in test]
        fold_preds = []
        for spec in specs:
            directory = work_root / args.config / f"fold{fold}" / spec.architecture
            def progress(e: dict, _name: str = spec.architecture, _fold: int = fold) -> None:
                if args.verbose:
                    print(f"  {_name} fold {_fold} epoch {e['epoch']}/{e['epochs']} loss {e['loss']:.4f} "
                          f"{e['seconds']:.0f} s", file=sys.stderr, flush=True)

            t = time.perf_counter()
            manifest = get_backend(spec.backend).train(
                spec, train, out_dir=directory, device=args.device, seed=args.seed + fold, progress=progress
            )
            train_s = time.perf_counter() - t
            model = load_member(directory, device=args.device)
            model.predict(test[0].image)  # warm-up
            t = time.perf_counter()
            preds = [model.predict(s.image) for s in test]
            pred_ms = (time.perf_counter() - t) / len(test) * 1000
            fem, tib = _scores(preds, truths)
            fold_preds.append(preds)
            tr = manifest["training"]
            row = {"config": args.config, "arch": spec.architecture, "fold": fold, "femur_iou": fem,
                   "tibia_iou": tib, "train_s": train_s, "s_per_epoch": tr["seconds_per_epoch"],
                   "epochs": tr["epochs"], "pred_ms": pred_ms, "n_train": len(train), "n_test": len(test),
                   "params": spec.params, "final_loss": tr["loss_history"][-1]}
            rows.append(row)
            print(f"{spec.architecture:<14} {fold:>4} {fem:7.4f} {tib:7.4f} {train_s:8.1f} "
                  f"{tr['seconds_per_epoch']:8.1f} {tr['epochs']:>6} {pred_ms:8.1f}", flush=True)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
            if args.save_oof:
                out = args.save_oof / spec.architecture
                out.mkdir(parents=True, exist_ok=True)
                for s, p in zip(test, preds):
                    np.savez_compressed(out / f"{s.name}.npz", label_map=p, fold=np.int64(fold))
        if len(fold_preds) >= 2:
            votes = [majority_vote(np.stack([m[i] for m in fold_preds])) for i in range(len(test))]
            fem, tib = _scores(votes, truths)
            print(f"{'majority':<14} {fold:>4} {fem:7.4f} {tib:7.4f}", flush=True)
            counts_per_fold.append(np.stack([
                image_pattern_counts(np.stack([m[i] for m in fold_preds]), truths[i]) for i in range(len(test))
            ]))

    print("\n# mean over folds", flush=True)
    for spec in specs:
        r = [x for x in rows if x["arch"] == spec.architecture]
        if r:
            print(f"{spec.architecture:<14} femur {np.mean([x['femur_iou'] for x in r]):.4f} "
                  f"tibia {np.mean([x['tibia_iou'] for x in r]):.4f} train_s {np.mean([x['train_s'] for x in r]):.1f} "
                  f"pred_ms {np.mean([x['pred_ms'] for x in r]):.1f} (folds {[x['fold'] for x in r]})", flush=True)
    if counts_per_fold:
        _stacking_summary(counts_per_fold, [s.architecture for s in specs])
    print(f"# total {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
