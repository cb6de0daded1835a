"""Benchmark: per-image ensemble inference time per stage, and peak memory, for a training config.

Inference cost depends on the members' architectures and input sizes, not on how well they were
trained. So this script builds an ensemble with the architectures of ``--config`` (every member x
every fold, exactly as ``train`` would) on a few synthetic phantoms with a token schedule
(a few steps), loads it through :func:`inference.ensemble_store.load_ensemble`
(sha256 checked) and runs :func:`inference.pipeline.run_ensemble` on ``--n`` images of the chosen
shape (one warm-up image first). It prints the median and 95th percentile of every stage's wall time
and the peak RSS of the process (``resource.getrusage``, which includes the training step; the
steady-state RSS after loading is printed separately).

Usage::

    python benchmarks/inference_stages.py --config default --shape oai --n 10
    python benchmarks/inference_stages.py --config default --shape bilateral --n 5 --device cuda
    python benchmarks/inference_stages.py --ensemble var/ens-gpu --shape oai --n 20 --device cuda

``--ensemble DIR`` times an ensemble folder already trained (``benchmarks/train_ensemble.py``,
``train``) instead of building one with a token schedule.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference.core.phantom import write_phantom_set  # noqa: E402
from training.configs import ensemble_config  # noqa: E402
from training.core.datasets import load_labelme_folder  # noqa: E402

#: Image shapes (height, width, legs): the OAI crop format and a bilateral full-length radiograph.
SHAPES = {"oai": (1024, 128, 1), "bilateral": (2048, 1024, 2)}


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _phantom_images(directory: Path, n: int, legs: int, height: int, width: int, seed: int) -> list[np.ndarray]:
    """``n`` phantom radiographs resized to (height, width) (nearest; timing only)."""
    write_phantom_set(directory, n=n, seed=seed, legs=legs)
    samples = load_labelme_folder(directory, joints_from="none")
    images = []
    for sample in samples:
        rows = np.linspace(0, sample.image.shape[0] - 1, height).round().astype(int)
        cols = np.linspace(0, sample.image.shape[1] - 1, width).round().astype(int)
        images.append(np.ascontiguousarray(sample.image[np.ix_(rows, cols)]))
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="oai")
    parser.add_argument("--n", type=int, default=10, help="timed images (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="training steps per segmentation member (timing only)")
    parser.add_argument("--ensemble", type=Path, help="time this trained ensemble folder instead of building one")
    args = parser.parse_args(argv)

    import torch

    from inference.ensemble_store import load_ensemble
    from inference.pipeline import run_ensemble
    from training.ensemble_training import train_ensemble

    torch.set_num_threads(args.threads)
    height, width, legs = SHAPES[args.shape]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ensemble_dir = args.ensemble
        if ensemble_dir is None:
            config = _token_schedule(ensemble_config(args.config), steps=args.steps)
            t0 = time.perf_counter()
            train_samples = load_labelme_folder(_write_train_set(root / "train", legs), group_pattern=r"^(.*)$")
            ensemble_dir = root / "ensemble"
            train_ensemble(train_samples, config, out_dir=ensemble_dir, device=args.device)
            print(f"# built {args.config} ({len(config.segmentation)} seg + {len(config.keypoint)} kp members x "
                  f"{config.n_folds} folds, a token schedule each) in {time.perf_counter() - t0:.0f} s", flush=True)
        rss_before = _rss_mib()
        ensemble = load_ensemble(ensemble_dir, device=args.device)
        print(f"# loaded {ensemble_dir}: RSS {rss_before:.0f} -> {_rss_mib():.0f} MiB", flush=True)
        images = _phantom_images(root / "test", args.n + 1, legs, height, width, seed=777)
        side = "right" if legs == 1 else None
        timings: list[dict[str, float]] = []
        for index, image in enumerate(images):
            result = run_ensemble(image, ensemble, image_name=f"phantom{index}.png", anatomical_side=side)
            if index:  # the first image is the warm-up
                timings.append(result.timings)
        steady = _rss_mib()

    name = args.ensemble or f"{args.config} (token schedule)"
    print(f"\n{name} ensemble, {args.shape} image {width} x {height}, {args.n} images, device {args.device}, "
          f"torch threads {args.threads}, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print(f"{'stage':<22} {'median_s':>9} {'p95_s':>9}")
    for stage in timings[0]:
        values = np.array([t[stage] for t in timings])
        print(f"{stage:<22} {np.median(values):9.3f} {np.percentile(values, 95):9.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"# RSS after inference {steady:.0f} MiB; peak RSS of the process (incl. the build) {peak:.0f} MiB")
    if args.device.startswith("cuda"):
        print(f"# peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


def _token_schedule(config, *, steps: int):  # noqa: ANN001, ANN202 - an EnsembleTrainingConfig
    """``config``'s members with a few training steps each (timing only)."""
    seg_short = {"iterations": steps}
    kp_short = {"epochs": 1, "max_train_samples": 8}
    return dataclasses.replace(
        config,
        segmentation=tuple(dataclasses.replace(s, params={**s.params, **seg_short}) for s in config.segmentation),
        keypoint=tuple(dataclasses.replace(s, params={**s.params, **kp_short}) for s in config.keypoint),
    )


def _write_train_set(directory: Path, legs: int) -> Path:
    write_phantom_set(directory, n=12, seed=11, legs=legs)
    return directory


if __name__ == "__main__":
    raise SystemExit(main())
