"""Per-frame and per-clip preprocessing: sizes, crop boxes, normalisation, and the one-pass gather."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowfast_core.model import get_config
from slowfast_core.spec import Preprocessing
from slowfast_core.video.preprocess import (
    center_crop_box,
    frames_to_tensor,
    pathway_tensors,
    prepare_frame,
    short_side_size,
)
from slowfast_core.video.sampling import pathway_indices


@pytest.mark.parametrize(
    ("hw", "side", "expected"),
    [((240, 320), 256, (256, 341)), ((1080, 1920), 224, (224, 398)), ((480, 270), 160, (284, 160)),
     ((256, 256), 256, (256, 256))],
)
def test_short_side_size_follows_pytorchvideo_floor_rule(hw, side, expected) -> None:
    assert short_side_size(*hw, side) == expected


def test_prepare_frame_converts_bgr_to_rgb_and_resizes_once() -> None:
    bgr = np.zeros((240, 320, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    rgb = prepare_frame(bgr, 120)
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    assert rgb[..., 2].min() == 200 and rgb[..., 0].max() == 0


def test_center_crop_box_rounds_like_torchvision() -> None:
    assert center_crop_box(256, 341, 256) == (0, 42)  # round(42.5) -> 42 (banker's), as torchvision
    assert center_crop_box(300, 300, 256) == (22, 22)


def test_frames_to_tensor_normalises_and_lays_out_channels_first() -> None:
    frames = np.full((4, 40, 48, 3), 255, np.uint8)
    frames[..., 1] = 0
    prep = Preprocessing(short_side=32, crop="center")
    x = frames_to_tensor(frames, prep)
    assert x.shape == (1, 3, 4, 32, 32) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, 0], torch.full((4, 32, 32), (1 - 0.45) / 0.225))
    torch.testing.assert_close(x[0, 1], torch.full((4, 32, 32), -0.45 / 0.225))


@pytest.mark.parametrize("crop", ["center", "full"])
def test_pathway_tensors_equal_per_pathway_conversion_bit_for_bit(crop: str) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (80, 64, 86, 3), dtype=np.uint8)
    prep = Preprocessing(short_side=64, crop=crop)
    indices = [i + 7 for i in pathway_indices(64, get_config("slowfast_8x8_r50").geometry)]
    fused = pathway_tensors(frames, indices, prep)
    separate = [frames_to_tensor(frames[i], prep) for i in indices]
    width = 64 if crop == "center" else 86
    assert [tuple(t.shape) for t in fused] == [(1, 3, 8, 64, width), (1, 3, 32, 64, width)]
    assert all(torch.equal(a, b) and a.is_contiguous() for a, b in zip(fused, separate))


def test_a_centre_crop_never_outgrows_a_small_frame() -> None:
    from slowfast_core.spec import Preprocessing
    from slowfast_core.video.preprocess import crop_slices

    prep = Preprocessing(short_side=80, crop="center")
    assert crop_slices(60, 100, prep) == (slice(0, 60), slice(20, 80))  # height is the limit
    assert crop_slices(100, 50, prep) == (slice(25, 75), slice(0, 50))  # width is the limit
    assert crop_slices(80, 120, prep) == (slice(0, 80), slice(20, 100))
