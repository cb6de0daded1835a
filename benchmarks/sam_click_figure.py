"""Figure: what one click gives with a SAM model, on a synthetic phantom (docs/screenshots/sam-one-click.png).

One positive click at each bone's deepest interior point (distance-transform maximum) of the one-leg
512 x 1024 phantom with seed 4, decoded by ``--model`` (default: the bone-tuned default model). Draws
the truth outline (thin, grey), the model's outline (femur red, tibia blue), the click, and prints the
IoU of each. The phantom is synthetic, never a patient image.

Usage::

    python benchmarks/sam_click_figure.py [--model litemedsam_bone] [--out docs/screenshots/sam-one-click.png]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enllasd_web.settings.local")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="SAM registry name (default: SAM_DEFAULT_MODEL)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots" / "sam-one-click.png")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import django

    django.setup()
    import torch
    from django.conf import settings
    from PIL import Image, ImageDraw

    from annotations.core.raster import mask_to_polygon, rasterize_polygon
    from inference.core.phantom import generate_phantom
    from inference.sam.registry import get_segmenter
    from inference.sam.tuning_prompts import deepest_point, guess_bone, iou

    torch.set_num_threads(args.threads)
    name = args.model or settings.SAM_DEFAULT_MODEL
    segmenter = get_segmenter(name)
    phantom = generate_phantom(seed=4, legs=1)
    embedding = segmenter.embed(phantom.image)
    canvas = Image.fromarray(phantom.image).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for index, (bone, colour) in enumerate((("femur", (230, 40, 40)), ("tibia", (40, 110, 255)))):
        truth_polygon = phantom.polygons_xy[0][index]
        truth = rasterize_polygon(truth_polygon, *phantom.image.shape)
        click = deepest_point(truth)
        decoded = segmenter.decode(embedding, click[None], np.array([1]))
        draw.line([tuple(p) for p in truth_polygon] + [tuple(truth_polygon[0])], fill=(160, 160, 160), width=1)
        for ring in mask_to_polygon(decoded.mask, tolerance_px=1.0)[:1]:
            draw.line([tuple(p) for p in ring] + [tuple(ring[0])], fill=colour, width=3)
        x, y = click
        draw.ellipse([x - 6, y - 6, x + 6, y + 6], fill=(40, 200, 60), outline=(0, 0, 0))
        print(f"{bone}: one click at ({x:.1f}, {y:.1f}) -> IoU {iou(decoded.mask, truth):.3f}, "
              f"score {decoded.score:.3f}, guessed label {guess_bone(decoded.mask)}")
    draw.text((8, 8), f"{name}: one click per bone (green); outline red/blue, truth grey", fill=(255, 255, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
