"""Prompts for tuning and measuring SAM on bone outlines, and the figures reported (numpy/scipy, no torch).

The prompts imitate what annotators give (coordinates are image ``(x, y)`` pixels; a click is put at a
pixel centre ``(col + 0.5, row + 0.5)``):

- ``box``: the bone's bounding box widened by 0-10 % of its size on each side independently (a
  user's box is rarely tight; evaluation uses exactly +5 %);
- ``clicks``: one to three positive clicks inside the bone, away from its edge (or, at a chosen rate,
  in its deepest part, next to the knee, where a click is most ambiguous);
- ``clicks+neg``: one or two positive clicks and a negative click inside the neighbouring bone;
- ``box+click``: a jittered box and one positive click.

Evaluation uses fixed prompts (:func:`evaluation_prompts`): the +5 % box, one click at the bone's
deepest interior point (maximum of the distance transform), and both together; plus ``leg box``
(:func:`leg_box_prompts`), what batch pre-labelling gives SAM from a user's whole-leg box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = [
    "CLICK_STAGE",
    "EVAL_PROMPTS",
    "TRAIN_PROMPT_KINDS",
    "Prompt",
    "bbox_xyxy",
    "deepest_point",
    "evaluation_prompts",
    "guess_bone",
    "iou",
    "leg_box_prompts",
    "sample_prompt",
    "summarize",
    "summarize_rows",
]

TRAIN_PROMPT_KINDS = ("box", "clicks", "clicks+neg", "box+click")
EVAL_PROMPTS = ("box", "click", "box+click", "leg box")
DEEP_CLICK_FRACTION = 0.7

CLICK_STAGE: dict[str, object] = {"epochs": 3, "lr": 1e-4, "examples_per_image": 3, "deep_click_share": 0.5,
                                  "kind_weights": (0.1, 0.6, 0.2, 0.1), "refine_share": 0.3, "single_click_share": 0.6}
"""The shipped recipe's second stage (``TuneConfig`` fields), run from already tuned weights: mostly
click-only examples, most of them single clicks in the whole-image window, half in the bone's deepest
part next to the knee. Re-tuning from approved work runs it from the active weights."""


@dataclass(frozen=True)
class Prompt:
    """``points`` (N, 2) float and ``labels`` (N,) int, or both ``None``; ``box`` (4,) float or ``None``."""

    points: NDArray[np.float64] | None
    labels: NDArray[np.int64] | None
    box: NDArray[np.float64] | None


def bbox_xyxy(mask: NDArray[np.bool_], margin: float | NDArray[np.float64] = 0.0) -> NDArray[np.float64]:
    """Pixel-edge bounding box ``x0, y0, x1, y1`` of ``mask`` widened by ``margin`` x its width/height per
    side (a scalar, or four per-side fractions), clipped to the image.

    Raises
    ------
    ValueError
        For an empty mask.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        raise ValueError("empty mask has no bounding box")
    cols = np.flatnonzero(mask.any(axis=0))
    x0, y0, x1, y1 = float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
    m = np.broadcast_to(np.asarray(margin, dtype=np.float64), (4,))
    box = np.array([x0 - m[0] * (x1 - x0), y0 - m[1] * (y1 - y0), x1 + m[2] * (x1 - x0), y1 + m[3] * (y1 - y0)])
    height, width = mask.shape
    return np.clip(box, 0.0, [width, height, width, height])


def deepest_point(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``(x, y)`` of the pixel centre farthest from the mask's edge (first in row-major order on ties)."""
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return np.array([col + 0.5, row + 0.5])


def _interior_clicks(rng: np.random.Generator, mask: NDArray[np.bool_], n: int,
                     deep_share: float = 0.0) -> NDArray[np.float64]:
    """``n`` random pixel centres inside ``mask`` at least a third of its largest depth from the edge,
    or, with probability ``deep_share``, in its deepest part (at least 70 % of the largest depth: the
    condyles or head of a femur, the plateau of a tibia, next to the knee where a click is most
    ambiguous)."""
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    fraction = DEEP_CLICK_FRACTION if deep_share > 0 and rng.random() < deep_share else 1.0 / 3.0
    rows, cols = np.nonzero(distance >= max(1.0, distance.max() * fraction))
    chosen = rng.choice(len(rows), size=n, replace=len(rows) < n)
    return np.column_stack([cols[chosen] + 0.5, rows[chosen] + 0.5]).astype(np.float64)


def sample_prompt(rng: np.random.Generator, kind: str, bone: NDArray[np.bool_],
                  neighbour: NDArray[np.bool_] | None, *, deep_click_share: float = 0.0,
                  single_click_share: float = 1 / 3) -> Prompt:
    """A random prompt of ``kind`` (:data:`TRAIN_PROMPT_KINDS`) for ``bone``; ``neighbour`` is the
    other bone of the leg (for negative clicks; ``clicks+neg`` without it gives ``clicks``). Each set
    of clicks lies in the bone's deepest part with probability ``deep_click_share``; a ``clicks``
    prompt has one click with probability ``single_click_share``, else two or three."""
    if kind == "box":
        return Prompt(None, None, bbox_xyxy(bone, rng.uniform(0.0, 0.10, size=4)))
    if kind == "box+click":
        return Prompt(_interior_clicks(rng, bone, 1, deep_click_share), np.ones(1, dtype=np.int64),
                      bbox_xyxy(bone, rng.uniform(0.0, 0.10, size=4)))
    if kind == "clicks" or (kind == "clicks+neg" and (neighbour is None or not neighbour.any())):
        n = 1 if rng.random() < single_click_share else int(rng.integers(2, 4))
        return Prompt(_interior_clicks(rng, bone, n, deep_click_share), np.ones(n, dtype=np.int64), None)
    if kind == "clicks+neg":
        n = int(rng.integers(1, 3))
        points = np.concatenate([_interior_clicks(rng, bone, n, deep_click_share),
                                 _interior_clicks(rng, neighbour, 1, deep_click_share)])
        return Prompt(points, np.array([1] * n + [0], dtype=np.int64), None)
    raise ValueError(f"unknown prompt kind {kind!r}; known: {TRAIN_PROMPT_KINDS}")


def evaluation_prompts(bone: NDArray[np.bool_]) -> dict[str, Prompt]:
    """The fixed prompts of :data:`EVAL_PROMPTS`: box +5 %, a click at :func:`deepest_point`, both."""
    box = bbox_xyxy(bone, 0.05)
    click = deepest_point(bone)[None]
    one = np.ones(1, dtype=np.int64)
    return {"box": Prompt(None, None, box), "click": Prompt(click, one, None), "box+click": Prompt(click, one, box)}


def leg_box_prompts(femur: NDArray[np.bool_], tibia: NDArray[np.bool_]) -> dict[str, Prompt]:
    """Pre-labelling's prompts from a whole-leg box (the bounding box of both bones + 5 %): per bone, the
    upper / lower 55 % of the box and a positive click at that part's centre
    (:func:`inference.sam.prelabel_prompts.prompts_from_leg_boxes`)."""
    from inference.sam.prelabel_prompts import prompts_from_leg_boxes

    leg = bbox_xyxy(femur | tibia, 0.05)
    return {p.bone: Prompt(p.points_xy, p.point_labels, p.box_xyxy) for p in prompts_from_leg_boxes([leg.tolist()])}


def iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def summarize(values: list[float] | NDArray[np.float64]) -> dict[str, float]:
    """``{"n", "mean", "median", "p10", "p90"}`` of IoU values."""
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
            "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90))}


def summarize_rows(rows: list[dict]) -> dict[str, dict[str, float]]:
    """``{"<bone>/<prompt>": summarize(...)}`` over rows ``{"bone", "prompt", "iou", ...}``, in the order
    femur, tibia x :data:`EVAL_PROMPTS` (combinations without rows are left out)."""
    summary = {}
    for bone in ("femur", "tibia"):
        for prompt in EVAL_PROMPTS:
            values = [row["iou"] for row in rows if row["bone"] == bone and row["prompt"] == prompt]
            if values:
                summary[f"{bone}/{prompt}"] = summarize(values)
    return summary


def guess_bone(mask: NDArray[np.bool_]) -> str | None:
    """``"femur"`` or ``"tibia"`` for a bone outline on a long-leg image, ``None`` for an empty mask.

    In an upright long-leg radiograph the femur lies above the knee and the tibia below it, and the
    knee sits near the middle of the image's height, so a bone whose centre of mass is in the upper
    half is called the femur. A heuristic: wrong on images that show only part of the leg (the user
    then chooses the label).
    """
    rows = np.nonzero(mask)[0]
    if rows.size == 0:
        return None
    return "femur" if (rows.mean() + 0.5) < mask.shape[0] / 2 else "tibia"
