"""segment-anything's real load, embed and decode path with a small randomly initialised SAM.

The small model is assembled from segment-anything's own building blocks (ImageEncoderViT,
PromptEncoder, MaskDecoder + TwoWayTransformer, Sam), saved as a state dict and loaded back through
:func:`inference.sam.segment_anything_backend.load_sam` under the model type ``test_tiny``; it runs in
well under a second on a CPU. Random weights say nothing about accuracy (see test_sam_litemedsam.py).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from inference.sam.embedding_cache import EmbeddingCache
from inference.sam.promptable import PromptableSegmenter, SamUnavailable
from inference.sam.segment_anything_backend import SAM_BUILDERS, SegmentAnythingSegmenter, load_sam

TINY_INPUT_SIDE = 128


def build_tiny_sam(checkpoint: None = None, *, embed_dim: int = 32) -> Sam:
    """A SAM with a 2-block ViT (32 channels) on a 128 px input; ``checkpoint`` must be None."""
    assert checkpoint is None
    grid = TINY_INPUT_SIDE // 16
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=TINY_INPUT_SIDE, patch_size=16, embed_dim=embed_dim, depth=2, num_heads=2, mlp_ratio=2,
            out_chans=32, qkv_bias=True, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
            window_size=4, global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(grid, grid),
                                     input_image_size=(TINY_INPUT_SIDE, TINY_INPUT_SIDE), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3, transformer=TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64, num_heads=2),
            transformer_dim=32, iou_head_depth=2, iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    ).eval()


TINY_BUILDERS = {**SAM_BUILDERS, "test_tiny": build_tiny_sam,
                 "test_tiny_wide": partial(build_tiny_sam, embed_dim=48)}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    sam = build_tiny_sam()
    path = tmp_path_factory.mktemp("sam") / "tiny.pth"
    torch.save(sam.state_dict(), path)
    return path, sam.state_dict()


@pytest.fixture(scope="module")
def tiny_segmenter(tiny_checkpoint):
    return SegmentAnythingSegmenter.from_checkpoint(tiny_checkpoint[0], "test_tiny", builders=TINY_BUILDERS)


def _image(height: int = 100, width: int = 60) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    return (((cols - 30) / 12) ** 2 + ((rows - 50) / 35) ** 2 < 1).astype(np.uint8) * 180 + 30


def test_checkpoint_loads_through_the_real_path(tiny_checkpoint, tiny_segmenter):
    _, saved = tiny_checkpoint
    loaded = tiny_segmenter.sam.state_dict()
    assert set(loaded) == set(saved)
    assert all(torch.equal(loaded[name], saved[name]) for name in saved)
    assert tiny_segmenter.name == "sam_test_tiny" and tiny_segmenter.input_side == TINY_INPUT_SIDE
    assert len(tiny_segmenter.weights_id) == 16
    assert isinstance(tiny_segmenter, PromptableSegmenter)


def test_embed_keeps_the_geometry_to_map_prompts(tiny_segmenter):
    embedding = tiny_segmenter.embed(_image())
    assert embedding.features.shape == (1, 32, 8, 8) and embedding.features.dtype == np.float32
    assert embedding.windows_xyxy.tolist() == [[0, 0, 60, 100]]
    assert embedding.input_sizes_hw.tolist() == [[128, 77]]
    assert embedding.original_size_hw == (100, 60)
    as_float = tiny_segmenter.embed(_image().astype(np.float32) / 255.0)
    assert as_float.features.shape == embedding.features.shape


@pytest.mark.parametrize("prompt", [
    {"box_xyxy": np.array([15.0, 10.0, 45.0, 90.0])},
    {"points_xy": np.array([[30.0, 50.0]]), "point_labels": np.array([1])},
    {"points_xy": np.array([[30.0, 50.0], [2.0, 2.0]]), "point_labels": np.array([1, 0]),
     "box_xyxy": np.array([15.0, 10.0, 45.0, 90.0])},
])
def test_decode_returns_a_full_size_mask_and_a_score(tiny_segmenter, prompt):
    embedding = tiny_segmenter.embed(_image())
    decoded = tiny_segmenter.decode(embedding, **prompt)
    assert decoded.mask.shape == (100, 60) and decoded.mask.dtype == bool
    assert np.isfinite(decoded.score)
    again = tiny_segmenter.decode(embedding, **prompt)
    assert np.array_equal(again.mask, decoded.mask) and again.score == decoded.score


def test_decode_refuses_bad_prompts_and_foreign_embeddings(tiny_segmenter, tiny_checkpoint):
    embedding = tiny_segmenter.embed(_image())
    with pytest.raises(ValueError, match="at least one prompt"):
        tiny_segmenter.decode(embedding)
    with pytest.raises(ValueError, match="outside"):
        tiny_segmenter.decode(embedding, np.array([[70.0, 5.0]]), np.array([1]))
    other = SegmentAnythingSegmenter.from_checkpoint(tiny_checkpoint[0], "test_tiny", name="other",
                                                     builders=TINY_BUILDERS)
    with pytest.raises(ValueError, match="embedding of sam_test_tiny"):
        other.decode(embedding, box_xyxy=np.array([1.0, 1.0, 20.0, 20.0]))


def test_cached_embedding_decodes_like_a_fresh_one(tiny_segmenter, tmp_path):
    embedding = tiny_segmenter.embed(_image())
    cache = EmbeddingCache(tmp_path)
    sha256 = "ab" * 32
    cache.put(embedding, sha256=sha256)
    reread = EmbeddingCache(tmp_path).get(model=tiny_segmenter.name, sha256=sha256,
                                          weights_id=tiny_segmenter.weights_id)
    box = np.array([15.0, 10.0, 45.0, 90.0])
    fresh, cached = tiny_segmenter.decode(embedding, box_xyxy=box), tiny_segmenter.decode(reread, box_xyxy=box)
    differing = np.count_nonzero(fresh.mask != cached.mask)
    assert differing <= 0.005 * fresh.mask.size  # float16 storage may flip a pixel on the 0-logit edge
    assert cached.score == pytest.approx(fresh.score, abs=1e-2)


def test_missing_checkpoint_says_where_it_looked(tmp_path):
    missing = tmp_path / "sam_vit_b_01ec64.pth"
    with pytest.raises(SamUnavailable, match=f"SAM checkpoint not found at {missing}; set SAM_CHECKPOINT"):
        load_sam(missing, "vit_b")
    with pytest.raises(SamUnavailable, match=r"not found at \(not set\)"):
        load_sam("", "vit_b")
    with pytest.raises(SamUnavailable, match="Unknown SAM model type 'vit_x'"):
        load_sam(missing, "vit_x")


def test_unreadable_or_mismatched_checkpoint_is_refused_plainly(tmp_path, tiny_checkpoint):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(SamUnavailable, match="could not be read"):
        load_sam(garbage, "test_tiny", builders=TINY_BUILDERS)
    with pytest.raises(SamUnavailable, match="does not fit model type test_tiny_wide"):
        load_sam(tiny_checkpoint[0], "test_tiny_wide", builders=TINY_BUILDERS)
