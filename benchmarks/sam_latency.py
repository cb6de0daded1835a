"""Benchmark: SAM assist latency — embedding once per image, then decoding prompts on the cached embedding.

For each model: load time, embed time (median and p95 over ``--embed-runs``), reading the embedding
back from the disk cache with an empty memory cache, and decode latency with the embedding in memory
(median and p95 over ``--decode-runs`` alternating femur-box, tibia-box and single-click prompts,
including tracing the outline, as a sam worker does per API call). Models:

(a) a tiny randomly initialised segment-anything (2-block ViT, 128 px; the test model),
(b) LiteMedSAM with its bundled weights (256 px, whole image + 3 tiles),
(b2) ``litemedsam_bone``: the same encoder with stretched windows and the shipped tuned decoder (a
     click without a box is decoded twice: coarse, then refined),
(c) segment-anything from ``$SAM_CHECKPOINT`` (type ``$SAM_MODEL_TYPE``, default vit_b) if set,
    else reported as skipped.

The image is a one-leg 512 x 1024 phantom (seed 4). Usage::

    python benchmarks/sam_latency.py [--embed-runs 3] [--decode-runs 50] [--threads 2]
    python benchmarks/sam_latency.py --api-url http://127.0.0.1:8000 --token KEY --image-id 1 --decode-runs 50 \
        [--click X Y --click X2 Y2]

With ``--api-url`` it times clicks through a running application instead (HTTP, the ``sam`` queue and
the worker's decode; see :func:`bench_api`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere

import argparse  # noqa: E402
import itertools  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotations.core.raster import mask_to_polygon  # noqa: E402
from inference.core.phantom import generate_phantom  # noqa: E402
from inference.sam.embedding_cache import EmbeddingCache  # noqa: E402
from inference.sam.litemedsam import LiteMedSam  # noqa: E402
from inference.sam.promptable import PromptableSegmenter, SamUnavailable  # noqa: E402
from inference.sam.segment_anything_backend import SAM_BUILDERS, SegmentAnythingSegmenter  # noqa: E402


def hardware_line() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}, {gpu}; "
            f"load average {load} at start; Python {platform.python_version()}, torch {torch.__version__}")


def _timed(function: Callable[[], object], runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def _summary(seconds: list[float]) -> str:
    values = np.asarray(seconds) * 1000.0
    return f"median {np.median(values):9.1f} ms   p95 {np.percentile(values, 95):9.1f} ms   (n={len(values)})"


def _prompts(phantom) -> list[dict[str, np.ndarray]]:  # noqa: ANN001 - a Phantom
    prompts = []
    for polygon in phantom.polygons_xy[0]:
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        margin = 0.05 * (high - low)
        prompts.append({"box_xyxy": np.concatenate([low - margin, high + margin])})
    prompts.append({"points_xy": phantom.polygons_xy[0][1].mean(axis=0)[None], "point_labels": np.array([1])})
    return prompts


def bench(name: str, load: Callable[[], PromptableSegmenter], *, embed_runs: int, decode_runs: int) -> None:
    phantom = generate_phantom(seed=4, legs=1)
    started = time.perf_counter()
    try:
        segmenter = load()
    except SamUnavailable as exc:
        print(f"{name}: skipped ({exc})")
        return
    print(f"{name}: loaded in {time.perf_counter() - started:.1f} s")
    embedding = segmenter.embed(phantom.image)  # warm-up (allocator, lazy initialisation)
    embed_seconds = _timed(lambda: segmenter.embed(phantom.image), embed_runs)
    print(f"  embed ({len(embedding.windows_xyxy)} window(s)) {_summary(embed_seconds)}")
    with tempfile.TemporaryDirectory() as folder:
        EmbeddingCache(Path(folder)).put(embedding, sha256="0" * 64)
        size_mb = sum(p.stat().st_size for p in Path(folder).rglob("*.npz")) / 2**20
        read = _timed(lambda: EmbeddingCache(Path(folder)).get(model=segmenter.name, sha256="0" * 64,
                                                               weights_id=segmenter.weights_id), 5)
        print(f"  cache read from disk ({size_mb:.1f} MiB)  {_summary(read)}")
    prompts = itertools.cycle(_prompts(phantom))

    def decode_once() -> None:
        mask_to_polygon(segmenter.decode(embedding, **next(prompts)).mask, tolerance_px=1.5)

    decode_once()
    print(f"  decode (embedding cached) {_summary(_timed(decode_once, decode_runs))}")


def bench_api(url: str, token: str, image_id: int, runs: int, clicks: list[list[float]] | None = None) -> None:
    """What a click costs through the running application: POST /api/images/<id>/sam/ round trips.

    The web process queues the decode on the ``sam`` queue and waits for the worker's answer, so this adds
    the HTTP request, Redis both ways and the worker's pick-up to the decode. Prompts: boxes over the left
    and right halves of the image's middle third, in turn, or single positive clicks at ``clicks`` in turn
    (the image's embedding should exist: it is made on upload; the first call is a warm-up and not counted).
    """
    import httpx

    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        info = client.get(f"/api/images/{image_id}/").raise_for_status().json()
        width, height = info["width"], info["height"]
        bodies = itertools.cycle([{"points": [click], "labels": [1]} for click in clicks] if clicks else
                                 [{"box": [0.05 * width, height / 3, 0.5 * width, 2 * height / 3]},
                                  {"box": [0.5 * width, height / 3, 0.95 * width, 2 * height / 3]}])
        wall, server, cached = [], [], []
        for run in range(runs + 1):
            started = time.perf_counter()
            response = client.post(f"/api/images/{image_id}/sam/", json=next(bodies))
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if run:  # the first is a warm-up
                body = response.json()
                wall.append(elapsed)
                server.append(body["timings"]["total_s"])
                cached.append(body["embedding_cached"])
    print(f"API {url} image {image_id} ({width} x {height}), model {body['model']}, "
          f"{'single clicks' if clicks else 'boxes'}, "
          f"embedding cached in {sum(cached)}/{len(cached)} calls")
    print(f"  round trip (HTTP + queue + decode) {_summary(wall)}")
    print(f"  of which in the sam worker         {_summary(server)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embed-runs", type=int, default=3)
    parser.add_argument("--decode-runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--api-url", help="time the API of this running server instead (e.g. http://127.0.0.1:8000)")
    parser.add_argument("--token", help="an annotator's API token (POST /api/auth/token/)")
    parser.add_argument("--image-id", type=int, help="an image on that server")
    parser.add_argument("--click", type=float, nargs=2, action="append", metavar=("X", "Y"),
                        help="with --api-url: time single clicks at these points (in turn) instead of boxes")
    args = parser.parse_args()
    if args.api_url:
        if not (args.token and args.image_id):
            parser.error("--api-url needs --token and --image-id")
        bench_api(args.api_url, args.token, args.image_id, args.decode_runs, args.click)
        return
    torch.set_num_threads(args.threads)
    print(hardware_line())
    print("image: one-leg phantom 512 x 1024 (seed 4); decode = femur box, tibia box, one click, in turn")

    from tests.inference.test_sam_segment_anything import TINY_BUILDERS, build_tiny_sam

    with tempfile.TemporaryDirectory() as folder:
        tiny_path = Path(folder) / "tiny.pth"
        torch.manual_seed(0)
        torch.save(build_tiny_sam().state_dict(), tiny_path)
        bench("(a) tiny random segment-anything (test_tiny, 128 px)",
              lambda: SegmentAnythingSegmenter.from_checkpoint(tiny_path, "test_tiny", builders=TINY_BUILDERS),
              embed_runs=args.embed_runs, decode_runs=args.decode_runs)
    with tempfile.TemporaryDirectory() as folder:
        bench("(b) LiteMedSAM (256 px, whole image + tiles)", lambda: LiteMedSam.load(root=Path(folder)),
              embed_runs=args.embed_runs, decode_runs=args.decode_runs)
    from inference.sam.bone import LiteMedSamBone

    weights = REPO / "models" / "sam" / "litemedsam_bone" / "litemedsam_bone.pt"
    with tempfile.TemporaryDirectory() as folder:
        bench("(b2) litemedsam_bone (stretched windows, tuned decoder)",
              lambda: LiteMedSamBone.load_tuned(root=Path(folder), weights=weights),
              embed_runs=args.embed_runs, decode_runs=args.decode_runs)
    checkpoint = os.environ.get("SAM_CHECKPOINT", "")
    model_type = os.environ.get("SAM_MODEL_TYPE", "vit_b")
    bench(f"(c) segment-anything {model_type} from SAM_CHECKPOINT",
          lambda: SegmentAnythingSegmenter.from_checkpoint(checkpoint, model_type, builders=SAM_BUILDERS),
          embed_runs=args.embed_runs, decode_runs=args.decode_runs)


if __name__ == "__main__":
    main()
