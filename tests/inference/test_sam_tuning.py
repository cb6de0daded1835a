"""Tuning the SAM bone model: prompts and figures (numpy), resumable training, export and sha256 check,
the ``sam_tune`` command; and, when ../shared/data is present, the shipped model on real crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.sam.promptable import SamUnavailable
from inference.sam.tuning_prompts import (
    TRAIN_PROMPT_KINDS,
    bbox_xyxy,
    deepest_point,
    evaluation_prompts,
    guess_bone,
    iou,
    leg_box_prompts,
    sample_prompt,
    summarize,
)


# The shipped model, measured 2026-12-05 (docs/sam.md): phantom seed 4, one click at the deepest point:
# femur 0.394, tibia 0.814 (the femur fails: partial outline); thresholds sit below the measurement.
PHANTOM_CLICK_MIN_IOU = {"femur": 0.30, "tibia": 0.72}
# Mean IoU over the 7 crops load_labelme_bones(...)[::40] (all in the shipped model's tuning set), through sam_outline.
REAL_MIN_MEAN_IOU = {"box": 0.78, "click": 0.35, "box+click": 0.78}


def _bones():
    femur = np.zeros((100, 40), dtype=bool)
    femur[10:45, 12:28] = True
    tibia = np.zeros((100, 40), dtype=bool)
    tibia[55:95, 14:30] = True
    return femur, tibia


def test_deepest_point_box_and_evaluation_prompts():
    femur, _ = _bones()
    assert deepest_point(femur).tolist() == [19.5, 17.5]  # 8 px from the left/right edges, first such row
    assert bbox_xyxy(femur).tolist() == [12.0, 10.0, 28.0, 45.0]
    assert bbox_xyxy(femur, 0.05).tolist() == pytest.approx([11.2, 8.25, 28.8, 46.75])
    prompts = evaluation_prompts(femur)
    assert list(prompts) == ["box", "click", "box+click"]
    assert prompts["click"].points.tolist() == [[19.5, 17.5]] and prompts["click"].box is None
    assert prompts["box+click"].box.tolist() == prompts["box"].box.tolist()


@pytest.mark.parametrize("kind", TRAIN_PROMPT_KINDS)
def test_sampled_prompts_lie_where_users_put_them(kind):
    femur, tibia = _bones()
    rng = np.random.default_rng(3)
    for _ in range(50):
        prompt = sample_prompt(rng, kind, femur, tibia)
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            assert 12 - 1.6 - 1e-9 <= x0 <= 12 and 28 <= x1 <= 28 + 1.6 + 1e-9  # 0-10 % of the 16 px width
            assert 10 - 3.5 - 1e-9 <= y0 <= 10 and 45 <= y1 <= 45 + 3.5 + 1e-9
        if prompt.points is not None:
            cols, rows = (prompt.points - 0.5).astype(int).T
            inside_femur = femur[rows, cols]
            assert inside_femur[prompt.labels == 1].all()
            assert tibia[rows, cols][prompt.labels == 0].all()  # negative clicks on the neighbouring bone
            assert 1 <= int((prompt.labels == 1).sum()) <= 3
        assert (kind in ("box", "box+click")) == (prompt.box is not None)
        assert (kind == "clicks+neg") == (prompt.labels is not None and bool((prompt.labels == 0).any()))


def test_deep_clicks_fall_in_the_bones_deepest_part():
    from scipy import ndimage

    femur, tibia = _bones()
    depth = ndimage.distance_transform_edt(np.pad(femur, 1))[1:-1, 1:-1]
    rng = np.random.default_rng(5)
    for _ in range(30):
        prompt = sample_prompt(rng, "clicks", femur, tibia, deep_click_share=1.0)
        cols, rows = (prompt.points - 0.5).astype(int).T
        assert (depth[rows, cols] >= 0.7 * depth.max()).all()
    shallow = [sample_prompt(rng, "clicks", femur, tibia).points for _ in range(30)]
    assert min(depth[(p - 0.5).astype(int)[:, 1], (p - 0.5).astype(int)[:, 0]].min() for p in shallow) < 0.7 * depth.max()


def test_single_click_share_sets_how_many_click_prompts_have_one_click():
    femur, tibia = _bones()
    rng = np.random.default_rng(7)
    counts = [len(sample_prompt(rng, "clicks", femur, tibia, single_click_share=share).points)
              for share in (1.0, 0.0) for _ in range(40)]
    assert set(counts[:40]) == {1} and set(counts[40:]) == {2, 3}


def test_sam_tune_refuses_bad_kind_weights(tmp_path):
    with pytest.raises(CommandError, match="four shares"):
        call_command("sam_tune", "--phantoms", "2", "--out", str(tmp_path), "--kind-weights", "1,0,0")


def test_leg_box_prompts_split_the_leg_like_prelabelling():
    femur, tibia = _bones()
    prompts = leg_box_prompts(femur, tibia)
    leg = bbox_xyxy(femur | tibia, 0.05)  # x 11.2..30.8, y 5.5..99.5 (clipped to the 100-row image)
    assert prompts["femur"].box.tolist() == pytest.approx([leg[0], leg[1], leg[2], leg[1] + 0.55 * (leg[3] - leg[1])])
    assert prompts["tibia"].box.tolist() == pytest.approx([leg[0], leg[3] - 0.55 * (leg[3] - leg[1]), leg[2], leg[3]])
    assert prompts["femur"].labels.tolist() == [1]


def test_iou_summary_and_bone_guess():
    femur, tibia = _bones()
    assert iou(femur, femur) == 1.0 and iou(femur, tibia) == 0.0
    s = summarize([0.5, 1.0, 0.0, 0.25, 0.75])
    assert (s["n"], s["mean"], s["median"]) == (5, 0.5, 0.5) and s["p10"] == pytest.approx(0.1)
    assert guess_bone(femur) == "femur" and guess_bone(tibia) == "tibia" and guess_bone(np.zeros_like(femur)) is None
    with pytest.raises(ValueError, match="unknown prompt kind"):
        sample_prompt(np.random.default_rng(0), "lasso", femur, tibia)


# --------------------------------------------------------------------------------------------------
# Torch side, on two phantoms (LiteMedSAM's real encoder; a few decoder steps)


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory):
    from inference.sam.bone import LiteMedSamBone
    from inference.sam.embedding_cache import EmbeddingCache
    from inference.sam.tuning import embed_samples
    from inference.sam.tuning_data import phantom_bones

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tuning")
    samples = phantom_bones(2, seed=7)
    base = LiteMedSamBone.load_tuned(root=root / "weights", weights=None)
    embeddings = embed_samples(samples, base, EmbeddingCache(root / "embeddings"))
    return root, samples, embeddings


def _fresh(root):
    from inference.sam.bone import LiteMedSamBone

    return LiteMedSamBone.load_tuned(root=root / "weights", weights=None)


def _decoder_vector(segmenter):
    return torch.cat([p.detach().flatten() for p in segmenter.mask_decoder.parameters()])


def test_training_resumes_to_the_same_weights_and_exports_a_checked_file(phantom_set, tmp_path):
    from inference.sam.bone import LiteMedSamBone, file_sha256
    from inference.sam.tuning import TuneConfig, evaluate, export_tuned, train_decoder

    root, samples, embeddings = phantom_set
    config = TuneConfig(epochs=2, batch_size=2, examples_per_image=1, lr=1e-4)
    straight = _fresh(root)
    untouched = _decoder_vector(straight).clone()
    history = train_decoder(straight, samples, embeddings, config=config, run_dir=tmp_path / "a")
    assert [h["epoch"] for h in history] == [0, 1]
    assert not torch.equal(untouched, _decoder_vector(straight))  # it learned something

    interrupted = _fresh(root)
    first = train_decoder(interrupted, samples, embeddings, config=config, run_dir=tmp_path / "b",
                          should_stop=lambda: True)
    assert len(first) == 1 and (tmp_path / "b" / "checkpoint.pt").is_file()
    resumed = _fresh(root)
    lines = []
    second = train_decoder(resumed, samples, embeddings, config=config, run_dir=tmp_path / "b", progress=lines.append)
    assert lines[0].startswith("resumed after epoch 1")
    assert [h["epoch"] for h in second] == [0, 1]
    assert torch.allclose(_decoder_vector(straight), _decoder_vector(resumed), atol=1e-6)
    with pytest.raises(ValueError, match="belongs to another run"):
        train_decoder(_fresh(root), samples, embeddings, config=TuneConfig(epochs=3), run_dir=tmp_path / "b")

    path = tmp_path / "out" / "tuned.pt"
    digest = export_tuned(resumed, path, meta={"test": True})
    assert (tmp_path / "out" / "tuned.pt.sha256").read_text().split() == [digest, "tuned.pt"]
    assert file_sha256(path) == digest
    loaded = LiteMedSamBone.load_tuned(root=root / "weights", weights=path, expected_sha256=digest)
    assert torch.equal(_decoder_vector(loaded), _decoder_vector(resumed))
    assert loaded.weights_id == resumed.weights_id  # embeddings survive re-tuning
    a, b = evaluate(loaded, samples, embeddings), evaluate(resumed, samples, embeddings)
    assert a["summary"] == b["summary"] and set(a["summary"]) == {
        f"{bone}/{prompt}" for bone in ("femur", "tibia") for prompt in ("box", "click", "box+click", "leg box")}
    with pytest.raises(SamUnavailable, match="expected"):
        LiteMedSamBone.load_tuned(root=root / "weights", weights=path, expected_sha256="0" * 64)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SamUnavailable, match="cannot be read"):
        LiteMedSamBone.load_tuned(root=root / "weights", weights=tmp_path / "junk.pt")


def test_sam_tune_command_cross_validates_then_aggregates(phantom_set, settings, tmp_path, capsys):
    root, _, _ = phantom_set
    settings.MODEL_STORE = root / "store"
    common = ["--phantoms", "4", "--epochs", "1", "--examples-per-image", "1", "--batch-size", "2",
              "--embeddings", str(root / "embeddings"), "--out", str(tmp_path / "cv"), "--cv", "2"]
    call_command("sam_tune", *common, "--folds", "0")
    printed = capsys.readouterr().out
    assert "held-out folds 0 of 2 only" in printed and "some folds are not finished" in printed
    fold0 = json.loads((tmp_path / "cv" / "fold-0" / "eval.json").read_text())
    assert len(fold0["test"]) == 2 and not set(fold0["test"]) & set(fold0["train"])
    call_command("sam_tune", *common)
    report = json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    assert report["test_sizes"] == [2, 2]
    assert set(report["before"]["phantom"]) == set(report["after"]["phantom"])
    assert report["after"]["phantom"]["tibia/box"]["n"] == 4
    assert "after tuning, phantom (2-fold held-out)" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# The shipped model (models/sam/litemedsam_bone), through the registry and sam_outline


@pytest.fixture(scope="module")
def shipped(django_db_blocker):
    from inference.sam import registry

    availability = registry.model_availability(registry.LITEMEDSAM_BONE)
    if not availability.available:
        pytest.skip(availability.message)
    torch.set_num_threads(1)
    with django_db_blocker.unblock():
        return registry.get_segmenter(registry.LITEMEDSAM_BONE)


def test_one_click_gives_the_whole_phantom_bone(shipped):
    from inference.core.phantom import generate_phantom
    from annotations.core.raster import rasterize_polygon

    phantom = generate_phantom(seed=4, legs=1)  # not one of the tuning phantoms (seeds 1000-1011)
    embedding = shipped.embed(phantom.image)
    for index, bone in enumerate(("femur", "tibia")):
        truth = rasterize_polygon(phantom.polygons_xy[0][index], *phantom.image.shape)
        click = deepest_point(truth)[None]
        decoded = shipped.decode(embedding, click, np.array([1]))
        assert iou(decoded.mask, truth) > PHANTOM_CLICK_MIN_IOU[bone], bone
        assert guess_bone(decoded.mask) == bone


@pytest.mark.django_db  # sam_outline's litemedsam_bone reads the active (promoted) bone weights from the database
def test_shipped_model_on_real_crops_through_sam_outline(shipped, tmp_path):
    """A regression check on six real crops the model was tuned on (in-sample: the held-out figures are
    the cross-validation in docs/sam.md)."""
    from tests.conftest import require_shared
    from inference.sam.tuning_data import load_labelme_bones

    folder = require_shared("oai-longleg-seg")
    samples = load_labelme_bones(folder)[::40]
    prompts, truths = [], []
    for sample in samples:
        for bone in ("femur", "tibia"):
            mask = sample.masks[0][bone]
            for name, prompt in evaluation_prompts(mask).items():
                prompts.append({"image": str(folder / f"{sample.key}.jpg"),
                                "box": None if prompt.box is None else prompt.box.tolist(),
                                "points": [] if prompt.points is None else prompt.points.tolist(),
                                "labels": [] if prompt.labels is None else prompt.labels.tolist()})
                truths.append((bone, name, mask))
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    call_command("sam_outline", "--prompts", str(tmp_path / "prompts.json"), "--out", str(tmp_path / "out.json"))
    results = json.loads((tmp_path / "out.json").read_text())
    from annotations.core.raster import rasterize_polygon

    scores: dict[tuple[str, str], list[float]] = {}
    for result, (bone, name, mask) in zip(results, truths, strict=True):
        drawn = rasterize_polygon(np.asarray(result["polygons"][0]), *mask.shape) if result["polygons"] else 0 * mask
        scores.setdefault((bone, name), []).append(iou(drawn, mask))
    for (bone, name), values in scores.items():
        assert np.mean(values) > REAL_MIN_MEAN_IOU[name], (bone, name, values)
