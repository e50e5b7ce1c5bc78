"""Our per-window input tensors equal PyTorchVideo's documented SlowFast inference transform, up to resize rounding.

PyTorchVideo's transform (torch.hub SlowFast tutorial), applied to the T*tau = 64 frames a window spans:
UniformTemporalSubsample(32) -> /255 -> Normalize(0.45, 0.225) -> ShortSideScale(256) -> CenterCrop(256) ->
PackPathway(alpha=4). Ours resizes each uint8 frame once with cv2 bilinear at decode time, then crops and
normalises per window. Both resizes are bilinear with half-pixel centres and no antialiasing, so they sample
the same source points; ours rounds to uint8 (<= 0.5 level) with 11-bit fixed-point weights (cv2), theirs
stays float. Tolerance: one uint8 level in normalised units, 1 / (255 * 0.225) = 0.0174. A wrongly chosen
frame, a misplaced crop or a wrong normalisation gives differences of tens of levels on the moving shapes.

Both sides get the same decoded frames (OpenCV), so decoder differences (OpenCV vs PyAV colour conversion)
do not enter: this tests the transform, not the decoder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core.commands.demo import write_synthetic_clip
from slowfast_core.video.file_windows import iter_windows
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.video.decode import VideoReader

GEOMETRY = ClipGeometry(slow_frames=8, tau=8, alpha=4)  # slowfast_8x8_r50
PREP = Preprocessing(short_side=256, crop="center")
ONE_LEVEL = 1.0 / (255.0 * 0.225)  # one uint8 step after /255 and /std
TOLERANCE = ONE_LEVEL + 1e-5  # + float32 slack


def _pytorchvideo_transform(size: int = 256) -> object:
    """PyTorchVideo's documented SlowFast inference transform (tutorial), built from its own classes."""
    import torchvision.transforms.functional as tv_functional

    # pytorchvideo 0.1.5 imports torchvision.transforms.functional_tensor, removed in torchvision 0.17+
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tv_functional)
    from pytorchvideo.transforms import Normalize, ShortSideScale, UniformTemporalSubsample
    from torchvision.transforms import Compose, Lambda
    from torchvision.transforms._transforms_video import CenterCropVideo

    class PackPathway(torch.nn.Module):
        """The tutorial's PackPathway: Slow = alpha-times subsampled Fast, by linspace(...).long()."""

        def __init__(self, alpha: int) -> None:
            super().__init__()
            self.alpha = alpha

        def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
            # (C, T, H, W) -> [(C, T/alpha, H, W), (C, T, H, W)]
            t = frames.shape[1]
            slow = torch.index_select(frames, 1, torch.linspace(0, t - 1, t // self.alpha).long())
            return [slow, frames]

    return Compose([
        UniformTemporalSubsample(GEOMETRY.fast_frames),
        Lambda(lambda x: x / 255.0),
        Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
        ShortSideScale(size=size),
        CenterCropVideo(size),
        PackPathway(alpha=GEOMETRY.alpha),
    ])


def _compare_second_window(path: Path, size: int = 256) -> float:
    """Max |ours - theirs| over both pathways of the file's second window (30 fps file: frames 32..95)."""
    with VideoReader(path) as video:
        assert video.info.fps == pytest.approx(30.0), "needs a 30 fps file: then the 30 fps grid is the file's frames"
        frames = list(video.frames())
    windows = iter_windows(iter(frames), geometry=GEOMETRY, prep=Preprocessing(short_side=size, crop="center"))
    next(windows)
    window = next(windows)
    first = window.span.first_frame
    assert (first, window.span.last_frame) == (32, 95)
    rgb = np.stack([f.bgr[..., ::-1] for f in frames[first : first + GEOMETRY.window_frames]])  # (64, H, W, 3)
    clip = torch.from_numpy(np.ascontiguousarray(rgb)).permute(3, 0, 1, 2)  # (3, 64, H, W) uint8
    theirs = _pytorchvideo_transform(size)(clip)  # subsampling is dtype-agnostic; x / 255 makes it float32
    worst = 0.0
    for ours_p, theirs_p in zip(window.inputs, theirs):
        assert ours_p.shape == (1, *theirs_p.shape)
        diff = (ours_p[0] - theirs_p).abs()
        assert diff.mean().item() < 0.4 * ONE_LEVEL, f"mean difference {diff.mean().item():.5f} is beyond rounding"
        worst = max(worst, diff.max().item())
    assert worst <= TOLERANCE, f"max difference {worst:.5f} exceeds one uint8 level ({TOLERANCE:.5f})"
    print(f"{path.name}: mean |diff| {diff.mean().item() / ONE_LEVEL:.3f} levels (fast pathway)")
    return worst


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 480)])  # 240 -> 256 up; 480 -> 256 down
def test_generated_clip_matches_pytorchvideo_transform(tmp_path: Path, width: int, height: int) -> None:
    clip = tmp_path / "shapes.mp4"
    write_synthetic_clip(clip, seconds=3.3, fps=30, width=width, height=height)
    worst = _compare_second_window(clip)
    print(f"generated {width}x{height}: max |ours - pytorchvideo| = {worst:.5f} ({worst / ONE_LEVEL:.2f} uint8 levels)")


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("test.mp4", 256),  # 340x256 H.264: no resize at all, so the tensors must be identical
        ("test.mp4", 224),  # the anchors' other test size: a 256 -> 224 downscale
    ],  # (a 1080p clip would need ~1 GB of float frames on PyTorchVideo's side: left out)
)
def test_real_clip_matches_pytorchvideo_transform(name: str, size: int, realvideo: Path) -> None:
    path = realvideo / name
    worst = _compare_second_window(path, size)
    if (name, size) == ("test.mp4", 256):
        assert worst < 1e-5  # nothing to round: same frames, same crop, same normalisation
    print(f"{name} at {size}: max |ours - pytorchvideo| = {worst:.5f} ({worst / ONE_LEVEL:.2f} uint8 levels)")


def test_tolerance_detects_a_wrong_frame(tmp_path: Path) -> None:
    """The comparison is sharp: one window later (a different set of frames) is far outside the tolerance."""
    clip = tmp_path / "shapes.mp4"
    write_synthetic_clip(clip, seconds=3.5, fps=30, width=320, height=240)
    with VideoReader(clip) as video:
        frames = list(video.frames())
    window = next(iter_windows(iter(frames), geometry=GEOMETRY, prep=PREP))  # frames 0..63
    shifted = np.stack([f.bgr[..., ::-1] for f in frames[4:68]])  # 4 frames later
    clip_t = torch.from_numpy(np.ascontiguousarray(shifted)).permute(3, 0, 1, 2)  # (3, 64, H, W) uint8
    theirs = _pytorchvideo_transform()(clip_t)
    assert (window.inputs[1][0] - theirs[1]).abs().max().item() > 20 * ONE_LEVEL
