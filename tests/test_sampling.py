"""Pathway sampling against the anchors (PySlowFast pack_pathway_output, PyTorchVideo PackPathway), by time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slowfast_core.errors import ConfigError
from slowfast_core.model import get_config
from slowfast_core.spec import ClipGeometry
from slowfast_core.video.sampling import (
    nearest_indices,
    pathway_indices,
    sample_window,
    time_grid_indices,
    uniform_indices,
)


def _pytorchvideo_pack(window_len: int, fast_frames: int, alpha: int) -> tuple[np.ndarray, np.ndarray]:
    """What PyTorchVideo does to a window, by its own function: UniformTemporalSubsample to alpha*T frames, then
    the tutorial's PackPathway (Slow = the same subsample of Fast to T frames)."""
    import sys

    import torchvision.transforms.functional as tv_functional

    # pytorchvideo 0.1.5 imports torchvision.transforms.functional_tensor, removed in torchvision 0.17+
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tv_functional)
    from pytorchvideo.transforms.functional import uniform_temporal_subsample

    frames = torch.arange(window_len).view(1, window_len, 1, 1).float()  # (C, T, H, W), value = frame index
    fast = uniform_temporal_subsample(frames, fast_frames, temporal_dim=1)
    slow = uniform_temporal_subsample(fast, fast.shape[1] // alpha, temporal_dim=1)
    return slow.flatten().long().numpy(), fast.flatten().long().numpy()


@pytest.mark.parametrize("arch", ["slowfast_8x8_r50", "slowfast_4x16_r50", "slowfast_16x8_r101_50_50"])
@pytest.mark.parametrize("window_len", [64, 50, 128, 31])
def test_pathway_indices_match_pytorchvideo_uniform_temporal_subsample(arch: str, window_len: int) -> None:
    g = get_config(arch).geometry
    slow, fast = pathway_indices(window_len, g)
    ref_slow, ref_fast = _pytorchvideo_pack(window_len, g.fast_frames, g.alpha)
    np.testing.assert_array_equal(fast, ref_fast)
    np.testing.assert_array_equal(slow, ref_slow)
    assert len(slow) == g.slow_frames and len(fast) == g.alpha * g.slow_frames


def test_pathway_indices_match_pyslowfast_pack_pathway_output() -> None:
    utils = pytest.importorskip("slowfast.datasets.utils")
    from slowfast.config.defaults import get_cfg

    cfg = get_cfg()
    cfg.MODEL.ARCH = "slowfast"
    cfg.SLOWFAST.ALPHA = 4
    cfg.DATA.REVERSE_INPUT_CHANNEL = False
    frames = torch.arange(64).view(1, 64, 1, 1).float().expand(3, 64, 2, 2)
    frames32 = torch.index_select(frames, 1, torch.linspace(0, 63, 32).long())  # their decoder's sampling
    slow, fast = utils.pack_pathway_output(cfg, frames32)
    ours = pathway_indices(64, get_config("slowfast_8x8_r50").geometry)
    np.testing.assert_array_equal(ours[0], slow[0, :, 0, 0].long().numpy())
    np.testing.assert_array_equal(ours[1], fast[0, :, 0, 0].long().numpy())


def test_uniform_indices_equal_torch_linspace_long_for_all_small_sizes() -> None:
    for n in range(1, 140):
        for k in range(1, 70):
            np.testing.assert_array_equal(uniform_indices(n, k), torch.linspace(0, n - 1, k).long().numpy())


def test_alpha_is_a_parameter() -> None:
    g = ClipGeometry(8, 8, 4)
    slow, fast = pathway_indices(64, g, alpha=8)
    assert len(fast) == 64 and len(slow) == 8
    np.testing.assert_array_equal(slow, _pytorchvideo_pack(64, 64, 8)[0])


def test_single_pathway_layouts() -> None:
    (slow,) = pathway_indices(64, ClipGeometry(4, 16, 8, "slow"))
    (fast,) = pathway_indices(64, ClipGeometry(4, 16, 8, "fast"))
    np.testing.assert_array_equal(slow, torch.linspace(0, 63, 4).long().numpy())
    assert len(fast) == 32


@pytest.mark.parametrize("fps", [15.0, 25.0, 30.0, 60.0])
def test_time_based_window_spans_what_the_model_was_trained_on(fps: float) -> None:
    g = get_config("slowfast_8x8_r50").geometry  # 64 frames at 30 fps = 2.133 s
    ts = 100.0 + np.arange(400) / fps  # a source that started at t=100 s
    end = ts[-1]
    grid = time_grid_indices(ts, end, g)
    assert len(grid) == 64
    assert ts[grid[-1]] == pytest.approx(end)
    assert end - ts[grid[0]] == pytest.approx(63 / 30, abs=0.5 / fps + 1e-6)  # within half a source frame
    assert np.all(np.diff(grid) >= 0)
    if fps == 30.0:
        np.testing.assert_array_equal(grid, np.arange(400 - 64, 400))
    if fps == 15.0:  # every source frame used twice (or once at the edges)
        assert set(np.bincount(grid)[grid.min():]) <= {1, 2}
    if fps == 60.0:  # every other source frame
        assert set(np.diff(grid)) == {2}
    slow, fast = sample_window(ts, end, g)
    assert len(slow) == 8 and len(fast) == 32
    assert set(slow) <= set(fast)


def test_jittery_timestamps_pick_the_nearest_frame() -> None:
    rng = np.random.default_rng(0)
    ts = np.cumsum(1 / 30 + rng.uniform(-0.004, 0.004, 300))
    instants = ts[100:140] + 0.001
    np.testing.assert_array_equal(nearest_indices(ts, instants), np.arange(100, 140))


def test_short_clip_repeats_edge_frames() -> None:
    ts = np.arange(10) / 30  # 10 frames, far less than a 64-frame window
    grid = time_grid_indices(ts, ts[0] + 63 / 30, get_config("slowfast_8x8_r50").geometry)
    np.testing.assert_array_equal(grid[:10], np.arange(10))
    assert (grid[10:] == 9).all()  # padded with the last frame


def test_bad_sampling_requests_raise() -> None:
    with pytest.raises(ConfigError, match="^cannot sample 4 of 0 frames$"):
        uniform_indices(0, 4)
    with pytest.raises(ConfigError, match="^cannot sample 0 of 5 frames$"):
        uniform_indices(5, 0)
    with pytest.raises(ConfigError, match="^need at least one frame timestamp to sample a window$"):
        nearest_indices(np.array([]), np.array([0.0]))
    with pytest.raises(ConfigError, match="^need at least one frame timestamp"):
        nearest_indices(np.zeros((2, 2)), np.array([0.0]))


def test_nearest_indices_at_the_edges_and_ties() -> None:
    ts = np.array([0.0, 1.0, 2.0])
    # before the first frame, ties (to the earlier), near the first, between, after the last
    instants = np.array([-5.0, 0.0, 0.2, 0.5, 0.6, 1.5, 1.9, 2.0, 9.0])
    np.testing.assert_array_equal(nearest_indices(ts, instants), [0, 0, 0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(nearest_indices(np.array([5.0]), np.array([4.0, 5.0, 6.0])), [0, 0, 0])


def test_distinct_frames_splits_any_number_of_lists() -> None:
    from slowfast_core.video.sampling import distinct_frames

    distinct, per_list = distinct_frames([np.array([4, 2]), np.array([2, 9, 4]), np.array([7])])
    np.testing.assert_array_equal(distinct, [2, 4, 7, 9])
    assert [p.tolist() for p in per_list] == [[1, 0], [0, 3, 1], [2]]
    assert all(p.dtype == np.int64 for p in per_list)
