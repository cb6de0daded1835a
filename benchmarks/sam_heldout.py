"""Benchmark: a SAM model's IoU on OAI crops it was not tuned on, with the prompts of the CV figures.

Images ``--skip`` onward (sorted by name; ``--weights`` measures a decoder tuned on the first 118 with
``sam_tune --limit 118``; the shipped ``litemedsam_bone`` is tuned on all 242, so without ``--weights``
the figures are in-sample)
of ``../shared/data/oai-longleg-seg``, every ``--stride``-th; per bone: box + 5 %, one click at the
deepest interior point, both, and pre-labelling's leg-box prompts
(:func:`inference.sam.tuning.evaluate`). Embeddings are cached in ``--embeddings``. Prints mean,
median and p10 IoU. Says "skipped" and exits 0 without the data.

Usage::

    python benchmarks/sam_heldout.py [--model litemedsam_bone | --weights FILE] [--skip 118] [--stride 1] [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enllasd_web.settings.local")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from tests.conftest import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "oai-longleg-seg")
    parser.add_argument("--model", default="litemedsam_bone")
    parser.add_argument("--weights", type=Path, default=None,
                        help="a tuned decoder file (sam_tune --export) to measure instead of the model's own")
    parser.add_argument("--skip", type=int, default=118, help="leave out the first N crops (the tuning set)")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--embeddings", type=Path, default=REPO / "var" / "sam_tuning" / "embeddings")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (set ENLLASD_SHARED_DATA)")
        return

    import django

    django.setup()
    import torch

    from benchmarks.sam_latency import hardware_line
    from inference.sam.embedding_cache import EmbeddingCache
    from inference.sam.registry import get_segmenter
    from inference.sam.tuning import embed_samples, evaluate
    from inference.sam.tuning_data import load_labelme_bones

    torch.set_num_threads(args.threads)
    print(hardware_line())
    if args.weights is not None:
        from django.conf import settings

        from inference.sam.bone import LiteMedSamBone

        segmenter = LiteMedSamBone.load_tuned(root=Path(settings.MODEL_STORE) / "litemedsam", weights=args.weights)
    else:
        segmenter = get_segmenter(args.model)
    samples = load_labelme_bones(args.data)[args.skip:][::args.stride]
    print(f"{args.weights or args.model}: {len(samples)} crops ({samples[0].key} ... {samples[-1].key})")
    started = time.perf_counter()
    embeddings = embed_samples(samples, segmenter, EmbeddingCache(args.embeddings, memory_items=0))
    print(f"embeddings ready in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    result = evaluate(segmenter, samples, embeddings)
    print(f"decoded in {time.perf_counter() - started:.0f} s")
    print(f"{'bone/prompt':18} {'n':>4} {'mean':>6} {'median':>6} {'p10':>6}")
    for key, s in result["summary"].items():
        print(f"{key:18} {s['n']:4d} {s['mean']:6.3f} {s['median']:6.3f} {s['p10']:6.3f}")


if __name__ == "__main__":
    main()
