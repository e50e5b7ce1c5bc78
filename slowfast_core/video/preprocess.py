"""Per-frame and per-clip preprocessing, as the anchors do it.

Per frame, once, at capture: BGR->RGB and resize so the short side equals the model's input size (uint8
stays uint8; this is the only resize a frame gets). Per clip, at inference: center crop (or the full frame),
/255, (x - mean) / std, layout (1, 3, T, H, W). Resizing uses bilinear interpolation without antialiasing and
PyTorchVideo's `ShortSideScale` size rule, so our tensors match its inference transform up to rounding.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from slowfast_core.spec import Preprocessing
from slowfast_core.video.sampling import distinct_frames


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) after scaling the short side to `short_side`, with PyTorchVideo's floor rule."""
    if width < height:
        return int(math.floor(height / width * short_side)), short_side
    return short_side, int(math.floor(width / height * short_side))


def prepare_frame(frame_bgr: np.ndarray, short_side: int) -> np.ndarray:
    """One decoded OpenCV frame (H, W, 3) BGR uint8 -> RGB uint8 with its short side = `short_side`."""
    return resize_short_side(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), short_side)


def resize_short_side(rgb: np.ndarray, short_side: int) -> np.ndarray:
    """(H, W, 3) uint8 with its short side scaled to `short_side` (bilinear; the same array when it is already
    that size): `prepare_frame` without the colour conversion, for a caller that converted once already."""
    h, w = rgb.shape[:2]
    new_h, new_w = short_side_size(h, w, short_side)
    if (new_h, new_w) == (h, w):
        return rgb
    return cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def center_crop_box(height: int, width: int, size: int) -> tuple[int, int]:
    """Top-left (y, x) of a centred size x size crop, rounded like torchvision's `center_crop`."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def crop_slices(height: int, width: int, prep: Preprocessing) -> tuple[slice, slice]:
    """(rows, cols) slices of the centre crop of prep.short_side, or the whole frame for crop="full"."""
    if prep.crop == "full":
        return slice(None), slice(None)
    size = min(prep.short_side, height, width)
    y, x = center_crop_box(height, width, size)
    return slice(y, y + size), slice(x, x + size)


def crop_frames(frames: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """(T, H, W, 3) uint8 -> centre crop of prep.short_side (a view, no copy), or the frames for crop="full"."""
    rows, cols = crop_slices(frames.shape[1], frames.shape[2], prep)
    return frames[:, rows, cols]


def _normalised(clip: np.ndarray, prep: Preprocessing) -> torch.Tensor:
    """(T, H, W, 3) uint8 (already cropped) -> (3, T, H, W) float32: /255, - mean, / std per channel."""
    src = torch.from_numpy(np.ascontiguousarray(clip))  # (T, H, W, 3) uint8
    x = torch.empty((3, *src.shape[:3]), dtype=torch.float32)
    x.copy_(src.permute(3, 0, 1, 2))  # uint8 -> float and THWC -> CTHW in one pass
    mean = torch.tensor(prep.mean, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(prep.std, dtype=x.dtype).view(3, 1, 1, 1)
    return x.div_(255.0).sub_(mean).div_(std)


def frames_to_tensor(frames: np.ndarray, prep: Preprocessing) -> torch.Tensor:
    """(T, H, W, 3) RGB uint8 -> normalised float32 (1, 3, T, H', W') after the crop."""
    return _normalised(crop_frames(frames, prep), prep).unsqueeze(0)


def pathway_tensors(frames: np.ndarray, indices: list[np.ndarray], prep: Preprocessing) -> list[torch.Tensor]:
    """Model inputs from a frame store: one (1, 3, T_p, H, W) tensor per pathway, gathered by `indices`.

    frames: (N, H, W, 3) uint8 already resized at capture; indices: from `sampling.sample_window`.
    Each distinct frame is cropped, converted and normalised once (Slow's frames are a subset of Fast's),
    then every pathway picks its frames from that one tensor.
    """
    union, local = distinct_frames(indices)  # sorted distinct frame ids, per pathway positions into them
    rows, cols = crop_slices(frames.shape[1], frames.shape[2], prep)
    x = _normalised(frames[union, rows, cols], prep)  # (3, K, H', W'), copies only the cropped pixels
    return [x.index_select(1, torch.from_numpy(pos)).unsqueeze(0) for pos in local]  # [(1, 3, T_p, H', W')]
