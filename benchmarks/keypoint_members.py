"""Benchmark: grouped k-fold CV of the key-point members of a config on a LabelMe folder.

Truth joints are derived from the femur/tibia outlines with
:func:`inference.core.joints_from_masks.derive_joints` (the OAI crops have no joint labels; images
whose derivation flags a joint are left out of training and evaluation and counted). For every fold f
(grouped by patient: file stem before ``_``; :func:`training.core.kfold.grouped_kfold`, seed 42) and
every member of ``--config`` (``training.members_keypoints.KEYPOINT_CONFIGS``), the member is trained
on the other folds, loaded back through the registry (sha256 checked) and predicts fold f. Heatmap
members are top-down: they are evaluated with the truth leg boxes (``truth``: tight bone box of the
leg, the member adds its margin), with their own boxing (``auto``), and, when the config has a YOLO
member, with its boxes (``yolo``). After all members of a fold, the robust-mean ensemble
(:func:`inference.core.keypoint_ensemble.ensemble_keypoints`) of the members' predictions (heatmap
members with ``--ensemble-boxes``) is scored too.

Per (member, boxes, fold) and pooled over folds it prints: median and mean error per joint (px),
mean NED (normaliser: max side of the truth bone box), PCK@0.05/0.1/0.2 and the mean/median absolute
HKA error (deg) of the member's joints against the truth-derived joints, plus training and
prediction times. With two or more folds, an ensemble with member weights fitted by NNLS (Eq. 3 of
[P]) on the other folds' out-of-fold joints (nested, so no fold sees its own truth) is scored too.
``--save-oof DIR`` writes ``DIR/<member>__<boxes>.npz`` (stems, fold, pred (n, 3, 2), scores,
truth, boxes) and ``DIR/summary.json``.

Usage::

    python benchmarks/keypoint_members.py --config tiny --save-oof var/kp/oof/tiny
    python benchmarks/keypoint_members.py --config default --members heatmap:fpn-resnet18 --folds 0
    python benchmarks/keypoint_members.py --config default --set epochs=5

The data folder defaults to ``<repo>/../shared/data/oai-longleg-seg`` (``ENLLASD_SHARED_DATA``
overrides ``<repo>/../shared/data``). Torch uses 2 threads; ``OMP_WAIT_POLICY=PASSIVE``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference.backends.base import MemberSpec  # noqa: E402
from inference.backends.keypoint_common import sample_leg_boxes  # noqa: E402
from inference.backends.registry import get_backend, load_member  # noqa: E402
from inference.core.joints_from_masks import derive_joints_detailed  # noqa: E402
from inference.core.keypoint_ensemble import ensemble_keypoints, fit_member_weights_nnls  # noqa: E402
from inference.core.metrics import hka_abs_error, normalised_distances, pck  # noqa: E402
from tests.conftest import shared_data_dir  # noqa: E402
from training.core.datasets import TrainingSample, load_labelme_folder  # noqa: E402
from training.core.kfold import grouped_kfold  # noqa: E402
from training.members_keypoints import KEYPOINT_CONFIGS  # noqa: E402


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _load(data: Path, n_legs: int) -> tuple[list[TrainingSample], list[int], int]:
    """Samples (derived joints) and the medial sign of each; drop images with any invalid joint."""
    samples = load_labelme_folder(data, joints_from="masks", n_legs=n_legs)
    keep, signs = [], []
    for s in samples:
        d = derive_joints_detailed(s.label_map, n_legs=n_legs)
        if d.all_valid:
            keep.append(s)
            signs.append(d.legs[0].medial_sign)
    return keep, signs, len(samples) - len(keep)


def _reusable(out: Path, spec: MemberSpec, n_train: int) -> float | None:
    """Training seconds of an artifact in ``out`` made from ``spec`` on ``n_train`` images, else None."""
    path = out / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    backend = get_backend(spec.backend)
    resolve = getattr(backend, "resolve_params", None)
    wanted = resolve(spec.params) if resolve else {**getattr(backend, "DEFAULT_PARAMS", {}), **spec.params}
    same = json.loads(json.dumps(manifest.get("params"))) == json.loads(json.dumps(wanted))
    if not same or manifest.get("training", {}).get("n_samples") != n_train:
        return None
    return float(manifest["training"]["seconds"])


def _scores(pred: np.ndarray, truth: np.ndarray, boxes: np.ndarray, signs: list[int]) -> dict[str, Any]:
    """Metrics of (n, 3, 2) predictions (NaN rows = missing) against truth, per joint and HKA."""
    err = np.hypot(*(pred - truth).transpose(2, 0, 1))  # (n, 3), NaN where missing
    ned = np.full_like(err, np.nan)
    hka = np.full(len(pred), np.nan)
    for i in range(len(pred)):
        ned[i] = normalised_distances(np.nan_to_num(pred[i], nan=1e9), truth[i], gt_box_xyxy=boxes[i]).ned
        if np.all(np.isfinite(pred[i])) and len(np.unique(pred[i].round(6), axis=0)) == 3:
            hka[i] = hka_abs_error(pred[i], truth[i], medial_sign=signs[i]).abs_error_deg
    ned = np.where(np.isfinite(err), ned, np.nan)
    p = pck(ned.ravel())
    return {
        "n": int(len(pred)),
        "missing": int(np.sum(~np.isfinite(err).all(axis=1))),
        "median_px": np.nanmedian(err, axis=0).round(3).tolist(),
        "mean_px": np.nanmean(err, axis=0).round(3).tolist(),
        "ned_mean": float(np.nanmean(ned)),
        "pck": {str(k): round(v, 4) for k, v in p.items()},
        "hka_mae_deg": float(np.nanmean(hka)),
        "hka_median_deg": float(np.nanmedian(hka)),
        "hka_p90_deg": float(np.nanpercentile(hka, 90)),
    }


def _row(name: str, fold: str, s: dict[str, Any], extra: str = "") -> str:
    med = "/".join(f"{v:.1f}" for v in s["median_px"])
    mean = "/".join(f"{v:.1f}" for v in s["mean_px"])
    pk = "/".join(f"{s['pck'][k]:.2f}" for k in ("0.05", "0.1", "0.2"))
    return (
        f"{name:44s} {fold:>4s} {s['n']:4d} {med:>17s} {mean:>17s} {s['ned_mean']:.4f} {pk:>14s} "
        f"{s['hka_mae_deg']:6.2f} {s['hka_median_deg']:6.2f} {extra}"
    )


HEADER = (
    f"{'member [boxes]':44s} {'fold':>4s} {'n':>4s} {'median px h/k/a':>17s} {'mean px h/k/a':>17s} "
    f"{'NED':6s} {'PCK.05/.1/.2':>14s} {'HKAmae':>6s} {'HKAmed':>6s} times"
)


def _nested_nnls(
    oof: dict[tuple[str, str], np.ndarray],
    specs: list[MemberSpec],
    boxes: str,
    fold_of: np.ndarray,
    fold_ids: list[int],
    samples: list[TrainingSample],
) -> None:
    """Robust-mean ensemble with Eq. 3 member weights fitted (NNLS) on the *other* folds' OOF joints."""
    keys = [(s.name, "direct" if s.backend == "ultralytics_pose" else boxes) for s in specs]
    keys = [k for k in keys if k in oof]
    if len(keys) < 2:
        return
    truth = np.stack([s.joints_xy[0] for s in samples])
    stack = np.stack([oof[k] for k in keys])  # (K, n, 3, 2)
    done = np.isin(fold_of, fold_ids) & np.isfinite(stack).all(axis=(0, 2, 3))
    out = oof.setdefault(("ensemble_nnls_nested", boxes), np.full((len(samples), 3, 2), np.nan))
    for f in fold_ids:
        fit = done & (fold_of != f)
        w = fit_member_weights_nnls(stack[:, fit], truth[fit])
        print(
            f"fold {f} NNLS weights (fitted on the other folds): "
            + ", ".join(f"{k[0]}={v:.3f}" for k, v in zip(keys, w, strict=True))
        )
        for i in np.flatnonzero(fold_of == f):
            pts = [stack[k, i][None] if np.all(np.isfinite(stack[k, i])) else None for k in range(len(keys))]
            if all(p is None for p in pts):
                continue
            h, wd = samples[i].image.shape
            res = ensemble_keypoints(pts, image_width=wd, image_height=h, view="side", weights=w)
            if res.legs:
                out[i] = res.legs[0].joints.as_array()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="tiny", choices=sorted(KEYPOINT_CONFIGS))
    ap.add_argument("--data", type=Path, default=shared_data_dir() / "oai-longleg-seg")
    ap.add_argument("--n-legs", type=int, default=1)
    ap.add_argument("--folds", type=int, nargs="*", default=None)
    ap.add_argument("--members", default=None, help="comma-separated MemberSpec names (backend:architecture)")
    ap.add_argument("--set", action="append", default=[], help="param override key=json for every member")
    ap.add_argument("--save-oof", type=Path, default=None)
    ap.add_argument("--runs", type=Path, default=None, help="artifact folder (default: a temp dir)")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="load an existing artifact in --runs instead of training when its params match",
    )
    ap.add_argument("--ensemble-boxes", default="truth", choices=["truth", "auto", "yolo"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    specs: list[MemberSpec] = list(KEYPOINT_CONFIGS[args.config])
    if args.members:
        wanted = args.members.split(",")
        specs = [s for s in specs if s.name in wanted]
        if len(specs) != len(wanted):
            ap.error(f"unknown member in {wanted}; known: {[s.name for s in KEYPOINT_CONFIGS[args.config]]}")
    overrides = _parse_set(args.set)
    if overrides:
        specs = [dataclasses.replace(s, params={**s.params, **overrides}) for s in specs]

    t0 = time.perf_counter()
    samples, signs, dropped = _load(args.data, args.n_legs)
    t_load = time.perf_counter() - t0
    print(f"{len(samples)} images with valid derived joints ({dropped} dropped), loaded in {t_load:.1f} s")
    groups = [s.group for s in samples]
    folds = grouped_kfold(groups, n_folds=4, seed=42)
    fold_ids = args.folds if args.folds is not None else list(range(folds.n_folds))
    truth = np.stack([s.joints_xy[0] for s in samples])
    gt_boxes = np.stack([sample_leg_boxes(s)[0] for s in samples])
    runs = args.runs or Path(tempfile.mkdtemp(prefix="kp_runs_"))

    # oof[(member, boxes)] = (n, 3, 2) predictions; scores likewise.
    oof: dict[tuple[str, str], np.ndarray] = {}
    oof_scores: dict[tuple[str, str], np.ndarray] = {}
    oof_boxes: dict[tuple[str, str], np.ndarray] = {}
    times: dict[str, list[float]] = {}
    pred_ms: dict[tuple[str, str], list[float]] = {}
    table: list[dict[str, Any]] = []
    print(HEADER)
    for f in fold_ids:
        tr, te = folds.train_indices(f), folds.test_indices(f)
        yolo_boxes: dict[int, np.ndarray] = {}
        for spec in specs:
            backend = get_backend(spec.backend)
            out = runs / args.config / spec.name.replace(":", "__") / f"fold{f}"
            t1 = time.perf_counter()
            reused = _reusable(out, spec, len(tr)) if args.reuse else None
            if reused is not None:
                t_train = reused
            else:
                backend.train(spec, [samples[i] for i in tr], out_dir=out, seed=f)
                t_train = time.perf_counter() - t1
            times.setdefault(spec.name, []).append(t_train)
            model = load_member(out)
            sources = (
                ["direct"]
                if spec.backend == "ultralytics_pose"
                else ["truth", "auto"] + (["yolo"] if yolo_boxes else [])
            )
            for src in sources:
                key = (spec.name, src)
                pred = oof.setdefault(key, np.full((len(samples), 3, 2), np.nan))
                sc = oof_scores.setdefault(key, np.full((len(samples), 3), np.nan))
                bx = oof_boxes.setdefault(key, np.full((len(samples), 4), np.nan))
                t2 = time.perf_counter()
                for i in te:
                    img = samples[i].image
                    if spec.backend == "ultralytics_pose":
                        p = model.predict(img, max_legs=args.n_legs)
                        if p.leg_boxes_xyxy is not None and len(p.leg_boxes_xyxy):
                            yolo_boxes[int(i)] = p.leg_boxes_xyxy[0]
                    elif src == "truth":
                        p = model.predict(img, leg_boxes_xyxy=gt_boxes[i][None])
                    elif src == "auto":
                        p = model.predict(img, n_legs=args.n_legs)
                    else:
                        if int(i) not in yolo_boxes:
                            continue
                        p = model.predict(img, leg_boxes_xyxy=yolo_boxes[int(i)][None], box_margin=False)
                    if len(p.joints_xy):
                        pred[i] = p.joints_xy[0]
                        sc[i] = p.scores[0]
                        if p.leg_boxes_xyxy is not None:
                            bx[i] = p.leg_boxes_xyxy[0]
                ms = 1000 * (time.perf_counter() - t2) / max(len(te), 1)
                pred_ms.setdefault(key, []).append(ms)
                s = _scores(pred[te], truth[te], gt_boxes[te], [signs[i] for i in te])
                label = f"{spec.name} [{src}]"
                print(_row(label, str(f), s, f"train {t_train:6.1f}s pred {ms:5.0f}ms"), flush=True)
                table.append({"member": spec.name, "boxes": src, "fold": f, "train_s": t_train, "pred_ms": ms, **s})
        # Ensemble of this fold's members.
        key_e = ("ensemble", args.ensemble_boxes)
        ens = oof.setdefault(key_e, np.full((len(samples), 3, 2), np.nan))
        member_keys = [(s.name, "direct" if s.backend == "ultralytics_pose" else args.ensemble_boxes) for s in specs]
        member_keys = [k for k in member_keys if k in oof]
        for i in te:
            pts = [oof[k][i][None] if np.all(np.isfinite(oof[k][i])) else None for k in member_keys]
            if all(p is None for p in pts):
                continue
            h, w = samples[i].image.shape
            res = ensemble_keypoints(pts, image_width=w, image_height=h, view="side")
            if res.legs:
                ens[i] = res.legs[0].joints.as_array()
        s = _scores(ens[te], truth[te], gt_boxes[te], [signs[i] for i in te])
        print(_row(f"ensemble robust mean [{args.ensemble_boxes}]", str(f), s), flush=True)
        table.append({"member": "ensemble", "boxes": args.ensemble_boxes, "fold": f, **s})

    idx = np.concatenate([folds.test_indices(f) for f in fold_ids])
    if len(fold_ids) >= 2:
        _nested_nnls(oof, specs, args.ensemble_boxes, folds.fold_of_image, fold_ids, samples)
    print("\npooled over folds", fold_ids)
    print(HEADER)
    pooled: dict[str, Any] = {}
    for key, pred in oof.items():
        s = _scores(pred[idx], truth[idx], gt_boxes[idx], [signs[i] for i in idx])
        t_tr = times.get(key[0], [])
        extra = f"train {np.mean(t_tr):6.1f}s/fold pred {np.mean(pred_ms.get(key, [0])):5.0f}ms" if t_tr else ""
        print(_row(f"{key[0]} [{key[1]}]", "all", s, extra))
        pooled[f"{key[0]} [{key[1]}]"] = {**s, "train_s_per_fold": t_tr}
    print(f"total {time.perf_counter() - t0:.0f} s")

    summary = {
        "config": args.config,
        "folds": fold_ids,
        "n_images": len(samples),
        "dropped": dropped,
        "members": [dataclasses.asdict(s) for s in specs],
        "per_fold": table,
        "pooled": pooled,
        "total_s": time.perf_counter() - t0,
    }
    if args.save_oof:
        args.save_oof.mkdir(parents=True, exist_ok=True)
        stems = np.array([s.name for s in samples])
        for key, pred in oof.items():
            np.savez(
                args.save_oof / f"{key[0].replace(':', '__')}__{key[1]}.npz",
                stems=stems,
                fold=folds.fold_of_image,
                pred=pred,
                truth=truth,
                gt_boxes=gt_boxes,
                scores=oof_scores.get(key, np.full((len(samples), 3), np.nan)),
                boxes=oof_boxes.get(key, np.full((len(samples), 4), np.nan)),
            )
        (args.save_oof / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
