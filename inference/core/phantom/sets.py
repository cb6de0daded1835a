"""Phantom sets on disk (PNG + LabelMe JSON + merged truth) and the demo's seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.core.phantom.generation import generate_phantom

#: The phantoms ``manage.py demo`` seeds and ``benchmarks/demo_phantoms.py`` measures: per kind (bilateral,
#: single leg), ``DEMO_PER_KIND`` with their outlines (seed ``DEMO_SEED + legs``) and ``DEMO_REVIEW_PER_KIND``
#: as images only, to review (seed ``DEMO_REVIEW_SEED + legs``).
DEMO_SEED, DEMO_PER_KIND = 2026, 4
DEMO_REVIEW_SEED, DEMO_REVIEW_PER_KIND = 2036, 2


def write_phantom_set(out_dir: str | Path, *, n: int, seed: int = 0, legs: int = 2, low_snr: bool = False,
                      labelme: bool = True, truth_path: str | Path | None = None) -> list[Path]:
    """Write ``n`` phantoms (``<stem>.png`` + ``<stem>.json``) and merge their truth into ``truth.json``.

    Phantom ``i`` uses the seed derived from ``(seed, i)`` and the stem
    ``phantom_s<seed>_<legs>leg_<i:04d>``. Returns the LabelMe JSON paths, or the PNG paths with
    ``labelme=False`` (images only, as a new upload has them). ``truth_path`` puts the truth elsewhere
    than ``out_dir/truth.json``.
    """
    from PIL import Image

    if n < 0:
        raise ValueError("n must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth_path = Path(truth_path) if truth_path is not None else out / "truth.json"
    truth: dict[str, Any] = json.loads(truth_path.read_text()) if truth_path.exists() else {}
    written: list[Path] = []
    for i in range(n):
        sub_seed = int(np.random.SeedSequence([seed, legs, int(low_snr), i]).generate_state(1)[0])
        stem = f"phantom_s{seed}_{legs}leg_{i:04d}"
        ph = generate_phantom(seed=sub_seed, legs=legs, low_snr=low_snr, stem=stem)
        Image.fromarray(ph.image, mode="L").save(out / f"{stem}.png")
        truth[stem] = ph.truth
        if not labelme:
            written.append(out / f"{stem}.png")
            continue
        json_path = out / f"{stem}.json"
        json_path.write_text(json.dumps(ph.labelme, indent=1))
        written.append(json_path)
    truth_path.write_text(json.dumps(truth, indent=1, sort_keys=True))
    return written
