"""Tune LiteMedSAM's mask decoder and prompt encoder on bone outlines from cached image embeddings (torch).

The image encoder stays frozen, so every image is encoded once (with the stretched windows of
:mod:`inference.sam.bone`) and cached (:class:`~inference.sam.embedding_cache.EmbeddingCache`, the
same files the app uses); tuning then only runs the decoder, which is cheap on a CPU.

One training example = one image, one leg, one bone and a random prompt
(:func:`~inference.sam.tuning_prompts.sample_prompt`), decoded in the window the inference path
would use: a prompt with a box in the smallest window holding it; clicks alone either in the
whole-image window (the first, coarse stage of :meth:`LiteMedSamBone.decode`) or, half the time, with
a jittered box of the bone added, in that box's window (the refining stage). The target is the whole
bone in that window, resized to the model-input frame (area average: soft edges); the loss is binary
cross-entropy + Dice on the decoder's low-resolution logits inside the window (padding excluded),
plus the squared error of the decoder's IoU prediction against the mask's actual IoU.

Training is deterministic given the seed and resumable: after every epoch the decoder, prompt
encoder, optimizer state and history go to ``checkpoint.pt`` in the run folder, and a rerun with the
same configuration continues after the last finished epoch (epoch ``e`` draws its examples from
``numpy.random.default_rng([seed, fold, e])``, so a resumed run equals an uninterrupted one).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from inference.sam.bone import TUNED_FORMAT, LiteMedSamBone, file_sha256
from inference.sam.embedding_cache import EmbeddingCache
from inference.sam.litemedsam import LITEMEDSAM_TILE_FRACTION
from inference.sam.promptable import Embedding
from inference.sam.tuning_data import BONES, BoneSample
from inference.sam.tuning_prompts import (
    TRAIN_PROMPT_KINDS,
    bbox_xyxy,
    evaluation_prompts,
    iou,
    leg_box_prompts,
    sample_prompt,
    summarize_rows,
)
from inference.sam.windows import choose_window, prompt_extent_xyxy, to_model_coords

logger = logging.getLogger(__name__)


__all__ = ["TuneConfig", "embed_samples", "evaluate", "export_tuned", "train_decoder"]


@dataclass(frozen=True)
class TuneConfig:
    """What a tuning run does; a resumed run must have the same configuration."""

    epochs: int = 12
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-2
    iou_loss_weight: float = 1.0
    seed: int = 0
    tune_prompt_encoder: bool = True
    examples_per_image: int = 2
    """Examples drawn per training image and epoch (bones and prompt kinds at random)."""
    deep_click_share: float = 0.0
    """Share of click sets drawn in the bone's deepest part (:func:`~inference.sam.tuning_prompts.sample_prompt`)."""
    kind_weights: tuple[float, float, float, float] = (0.25, 0.35, 0.25, 0.15)
    """Share of each :data:`~inference.sam.tuning_prompts.TRAIN_PROMPT_KINDS` (box, clicks, clicks+neg, box+click)."""
    refine_share: float = 0.4
    """Share of click-only examples trained as the refining stage (clicks + the bone's box, in its window);
    the rest are trained in the whole-image window, the coarse stage."""
    single_click_share: float = 1 / 3
    """Share of ``clicks`` examples with exactly one click (the rest have two or three)."""


def embed_samples(samples: Sequence[BoneSample], segmenter: LiteMedSamBone, cache: EmbeddingCache, *,
                  progress: Callable[[str], None] | None = None,
                  on_embedded: Callable[[int, int], None] | None = None) -> dict[str, Embedding]:
    """Every sample's embedding, from ``cache`` or computed and cached there (resumable by image).

    ``progress`` gets a log line and ``on_embedded`` ``(number, total)`` after each computed embedding.
    """
    embeddings = {}
    started = time.perf_counter()
    for number, sample in enumerate(samples, start=1):
        embedding = cache.get(model=segmenter.name, sha256=sample.sha256, weights_id=segmenter.weights_id)
        if embedding is None:
            embedding = cache.put(segmenter.embed(sample.image), sha256=sample.sha256)
            if progress is not None:
                progress(f"embedded {number}/{len(samples)} {sample.key} ({time.perf_counter() - started:.0f} s)")
            if on_embedded is not None:
                on_embedded(number, len(samples))
        embeddings[sample.sha256] = Embedding(
            model=embedding.model, weights_id=embedding.weights_id, features=embedding.features.astype(np.float16),
            windows_xyxy=embedding.windows_xyxy, input_sizes_hw=embedding.input_sizes_hw,
            original_size_hw=embedding.original_size_hw)
    return embeddings


def _window_target(mask: NDArray[np.bool_], window: NDArray[np.int64], input_hw: NDArray[np.int64],
                   side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The bone in a window, in the decoder's low-resolution frame ``(side, side)``: soft target and the
    valid (non-padding) region, both ``(1, 1, side, side)`` float."""
    x0, y0, x1, y1 = (int(v) for v in window)
    crop = torch.from_numpy(mask[y0:y1, x0:x1].astype(np.float32))[None, None]
    h, w = int(input_hw[0]), int(input_hw[1])
    resized = F.interpolate(crop, size=(h, w), mode="area") if crop.shape[-2] >= h and crop.shape[-1] >= w else \
        F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)
    target = torch.zeros(1, 1, 256, 256)
    target[..., :h, :w] = resized
    valid = torch.zeros(1, 1, 256, 256)
    valid[..., :h, :w] = 1.0
    if side != 256:
        target = F.interpolate(target, size=(side, side), mode="area")
        valid = F.interpolate(valid, size=(side, side), mode="area")
    return target, valid


@dataclass(frozen=True)
class _Example:
    embedding: Embedding
    window: int
    points: NDArray[np.float64] | None
    labels: NDArray[np.int64] | None
    box: NDArray[np.float64] | None
    mask: NDArray[np.bool_]


def _draw_examples(rng: np.random.Generator, samples: Sequence[BoneSample], embeddings: dict[str, Embedding],
                   config: TuneConfig) -> list[_Example]:
    examples = []
    weights = np.asarray(config.kind_weights, dtype=np.float64) / np.sum(config.kind_weights)
    for sample in samples:
        embedding = embeddings[sample.sha256]
        for _ in range(config.examples_per_image):
            leg = sample.masks[int(rng.integers(len(sample.masks)))]
            bone = BONES[int(rng.integers(2))]
            other = BONES[1 - BONES.index(bone)]
            kind = TRAIN_PROMPT_KINDS[int(rng.choice(len(TRAIN_PROMPT_KINDS), p=weights))]
            prompt = sample_prompt(rng, kind, leg[bone], leg[other], deep_click_share=config.deep_click_share,
                                   single_click_share=config.single_click_share)
            box = prompt.box
            if box is None and rng.random() < config.refine_share:  # the refining stage of click decoding
                box = bbox_xyxy(leg[bone], rng.uniform(0.0, 0.10, size=4))
            window = 0 if box is None else choose_window(embedding.windows_xyxy, prompt_extent_xyxy(prompt.points, box))
            examples.append(_Example(embedding, window, prompt.points, prompt.labels, box, leg[bone]))
    order = rng.permutation(len(examples))
    return [examples[i] for i in order]


def _forward(segmenter: LiteMedSamBone, example: _Example) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-resolution logits ``(1, 1, s, s)`` and predicted IoU ``(1,)`` for one example, with gradients."""
    embedding = example.embedding
    window, input_hw = embedding.windows_xyxy[example.window], embedding.input_sizes_hw[example.window]
    point_prompt = box_prompt = None
    if example.points is not None:
        coords = torch.as_tensor(to_model_coords(example.points, window, input_hw), dtype=torch.float32)
        point_prompt = (coords[None], torch.as_tensor(example.labels, dtype=torch.int)[None])
    if example.box is not None:
        corners = to_model_coords(example.box.reshape(2, 2), window, input_hw).reshape(1, 4)
        box_prompt = torch.as_tensor(corners, dtype=torch.float32)
    features = torch.from_numpy(embedding.features[example.window].astype(np.float32))[None]
    sparse, dense = segmenter.prompt_encoder(points=point_prompt, boxes=box_prompt, masks=None)
    low_res, predicted_iou = segmenter.mask_decoder(
        image_embeddings=features, image_pe=segmenter.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)
    return low_res[:, :1], predicted_iou[:, 0]


def _loss(segmenter: LiteMedSamBone, example: _Example, iou_weight: float) -> torch.Tensor:
    logits, predicted_iou = _forward(segmenter, example)
    side = logits.shape[-1]
    embedding = example.embedding
    target, valid = _window_target(example.mask, embedding.windows_xyxy[example.window],
                                   embedding.input_sizes_hw[example.window], side)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * valid).sum() / valid.sum()
    probs = torch.sigmoid(logits) * valid
    dice = 1 - (2 * (probs * target).sum() + 1) / (probs.sum() + target.sum() + 1)
    with torch.no_grad():
        hard, truth = (logits > 0) & (valid > 0), target > 0.5
        actual = (hard & truth).sum() / ((hard | truth).sum()).clamp(min=1)
    return bce + dice + iou_weight * (predicted_iou[0] - actual) ** 2


def _trainable(segmenter: LiteMedSamBone, config: TuneConfig) -> list[torch.nn.Parameter]:
    for module in (segmenter.image_encoder, segmenter.prompt_encoder, segmenter.mask_decoder):
        module.requires_grad_(False)
    segmenter.mask_decoder.requires_grad_(True)
    if config.tune_prompt_encoder:
        segmenter.prompt_encoder.requires_grad_(True)
    return [p for m in (segmenter.mask_decoder, segmenter.prompt_encoder) for p in m.parameters() if p.requires_grad]


def train_decoder(segmenter: LiteMedSamBone, samples: Sequence[BoneSample], embeddings: dict[str, Embedding], *,
                  config: TuneConfig, run_dir: Path, fold: int = -1,
                  progress: Callable[[str], None] | None = None,
                  on_epoch: Callable[[dict[str, float]], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> list[dict[str, float]]:
    """Tune ``segmenter``'s decoder (and prompt encoder) in place; resumable from ``run_dir/checkpoint.pt``.

    Returns the history, one ``{"epoch", "loss", "seconds"}`` per epoch (including resumed ones).
    ``progress`` gets log lines; ``on_epoch`` gets each finished epoch's ``{"epoch", "loss", "seconds",
    "epochs"}`` (``epochs``: how many the run has in all) after its checkpoint is written.
    ``should_stop`` is asked after every epoch (checkpoint written first); training stops early when
    it answers True.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"
    parameters = _trainable(segmenter, config)
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    history: list[dict[str, float]] = []
    start_epoch = 0
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        saved = {**asdict(TuneConfig()), **state["config"]}  # fields added since then have their defaults
        if json.dumps(saved, sort_keys=True) != json.dumps(asdict(config), sort_keys=True) or state["fold"] != fold or state["samples"] != [s.sha256 for s in samples]:
            raise ValueError(f"{checkpoint_path} belongs to another run (configuration, fold or images differ); "
                             "use another folder or delete it")
        segmenter.mask_decoder.load_state_dict(state["mask_decoder"])
        segmenter.prompt_encoder.load_state_dict(state["prompt_encoder"])
        optimizer.load_state_dict(state["optimizer"])
        history = json.loads(state["history"])
        start_epoch = int(state["epoch"]) + 1
        if progress is not None:
            progress(f"resumed after epoch {start_epoch} from {checkpoint_path}")
    total_steps = config.epochs * -(-len(samples) * config.examples_per_image // config.batch_size)
    scheduler_step = start_epoch * -(-len(samples) * config.examples_per_image // config.batch_size)
    segmenter.mask_decoder.train()
    segmenter.prompt_encoder.train()
    try:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            rng = np.random.default_rng([config.seed, fold + 1, epoch])
            examples = _draw_examples(rng, samples, embeddings, config)
            losses = []
            for first in range(0, len(examples), config.batch_size):
                lr = float(config.lr * 0.5 * (1 + np.cos(np.pi * scheduler_step / max(1, total_steps))))  # cosine
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad()
                batch = examples[first:first + config.batch_size]
                loss = sum(_loss(segmenter, example, config.iou_loss_weight) for example in batch) / len(batch)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                scheduler_step += 1
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - started})
            state = {"config": asdict(config), "fold": fold, "samples": [s.sha256 for s in samples], "epoch": epoch,
                     "mask_decoder": segmenter.mask_decoder.state_dict(),
                     "prompt_encoder": segmenter.prompt_encoder.state_dict(),
                     "optimizer": optimizer.state_dict(), "history": json.dumps(history)}
            temporary = checkpoint_path.with_suffix(".tmp")
            torch.save(state, temporary)
            os.replace(temporary, checkpoint_path)
            if progress is not None:
                progress(f"epoch {epoch + 1}/{config.epochs}: loss {history[-1]['loss']:.4f} "
                         f"({history[-1]['seconds']:.0f} s)")
            if on_epoch is not None:
                on_epoch({**history[-1], "epochs": config.epochs})
            if should_stop is not None and should_stop():
                break
    finally:
        segmenter.mask_decoder.eval()
        segmenter.prompt_encoder.eval()
        segmenter.mask_decoder.requires_grad_(False)
        segmenter.prompt_encoder.requires_grad_(False)
    with torch.inference_mode():
        segmenter._dense_pe = segmenter.prompt_encoder.get_dense_pe()  # the tuned positional encoding
    return history


def evaluate(segmenter: Any, samples: Sequence[BoneSample], embeddings: dict[str, Embedding]) -> dict[str, Any]:
    """IoU of every evaluation prompt (:data:`~inference.sam.tuning_prompts.EVAL_PROMPTS`) per bone.

    ``segmenter`` is any promptable segmenter whose embeddings are in ``embeddings`` (its full
    ``decode``, coarse-to-fine included). Returns ``{"per_image": [{"key", "leg", "bone", "prompt",
    "iou"}...], "summary": {"<bone>/<prompt>": summarize(...)}}``.
    """
    rows = []
    for sample in samples:
        embedding = embeddings[sample.sha256]
        for leg_index, leg in enumerate(sample.masks):
            from_leg_box = leg_box_prompts(leg["femur"], leg["tibia"])
            for bone in BONES:
                for name, prompt in {**evaluation_prompts(leg[bone]), "leg box": from_leg_box[bone]}.items():
                    decoded = segmenter.decode(embedding, prompt.points, prompt.labels, prompt.box)
                    rows.append({"key": sample.key, "leg": leg_index, "bone": bone, "prompt": name,
                                 "iou": iou(decoded.mask, leg[bone])})
    return {"per_image": rows, "summary": summarize_rows(rows)}


def export_tuned(segmenter: LiteMedSamBone, path: Path, *, meta: dict[str, Any]) -> str:
    """Write the tuned decoder and prompt encoder (float32) as a :data:`TUNED_FORMAT` file plus
    ``<file>.sha256``; returns the sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": TUNED_FORMAT, "max_stretch": float(segmenter.max_stretch),
             "tile_fraction": float(LITEMEDSAM_TILE_FRACTION), "meta": json.dumps(meta, sort_keys=True),
             "mask_decoder": {k: v.detach().clone() for k, v in segmenter.mask_decoder.state_dict().items()},
             "prompt_encoder": {k: v.detach().clone() for k, v in segmenter.prompt_encoder.state_dict().items()}}
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)
    digest = file_sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest
