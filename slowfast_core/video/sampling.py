"""Which frames each pathway takes from a window: pure functions, shared by `predict`, the engine and training.

Two steps, the same for files and live sources:
1. `time_grid_indices`: the window spans T*tau frames *at 30 fps* (the rate the models were trained at).
   For each instant of that 30 fps grid, pick the captured frame nearest in time. A 30 fps source maps
   one to one; 15 fps repeats frames; 60 fps skips every other one; 25 fps picks the nearest.
2. `pathway_indices`: from those T*tau grid frames, the anchors' sampling: Fast takes alpha*T frames spread
   uniformly (PyTorchVideo `UniformTemporalSubsample`), Slow takes T of Fast's frames (PySlowFast
   `pack_pathway_output`, PyTorchVideo `PackPathway`). Both use `linspace(...).long()`, i.e. truncation.
3. `distinct_frames`: the one gather; each frame the pathways share is copied and normalised once.
When windows end, and the cut of a window from a frame store, are in `windows.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from slowfast_core.errors import ConfigError
from slowfast_core.spec import REFERENCE_FPS, ClipGeometry


def uniform_indices(num_available: int, num_samples: int) -> np.ndarray:
    """`num_samples` indices spread over [0, num_available-1], truncated like torch.linspace(...).long()."""
    if num_available < 1 or num_samples < 1:
        raise ConfigError(f"cannot sample {num_samples} of {num_available} frames")
    # torch's own linspace: numpy's float32 linspace rounds differently for some (n, k), e.g. (17, 15)
    grid = torch.linspace(0, num_available - 1, num_samples).long().clamp_(0, num_available - 1)
    return grid.numpy()


def pathway_indices(window_len: int, geometry: ClipGeometry, *, alpha: int | None = None) -> list[np.ndarray]:
    """Indices into a window of `window_len` frames for each pathway, in model-input order.

    `alpha` defaults to the geometry's; it is a parameter so tests can compare with the anchors at any alpha.
    """
    a = geometry.alpha if alpha is None else alpha
    fast = uniform_indices(window_len, a * geometry.slow_frames)  # (αT,)
    if geometry.layout == "fast":
        return [fast]
    if geometry.layout == "slow":
        return [uniform_indices(window_len, geometry.slow_frames)]
    slow = fast[uniform_indices(len(fast), len(fast) // a)]  # (T,)
    return [slow, fast]


def time_grid(end_time: float, num: int, fps: float = REFERENCE_FPS) -> np.ndarray:
    """`num` instants ending at `end_time`, 1/fps apart, oldest first: (num,) seconds."""
    return end_time - (num - 1 - np.arange(num, dtype=np.float64)) / fps


def nearest_indices(timestamps: np.ndarray, instants: np.ndarray) -> np.ndarray:
    """For each instant, the index of the timestamp nearest to it (ties go to the earlier frame).

    timestamps must be increasing. Instants before the first or after the last frame clamp to it, which is
    how a clip shorter than a window gets padded by repeating its edge frames.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or len(ts) == 0:
        raise ConfigError("need at least one frame timestamp to sample a window")
    right = np.clip(np.searchsorted(ts, instants, side="left"), 0, len(ts) - 1)
    left = np.clip(right - 1, 0, len(ts) - 1)
    # tolerance absorbs float jitter of timestamps on an exact grid (i / fps)
    take_left = np.abs(instants - ts[left]) <= np.abs(ts[right] - instants) + 1e-9
    return np.where(take_left, left, right)


def time_grid_indices(timestamps: np.ndarray, end_time: float, geometry: ClipGeometry) -> np.ndarray:
    """Indices into `timestamps` of the window's T*tau reference-rate frames ending at `end_time`: (T*tau,)."""
    return nearest_indices(timestamps, time_grid(end_time, geometry.window_frames))


def sample_window(timestamps: np.ndarray, end_time: float, geometry: ClipGeometry) -> list[np.ndarray]:
    """Per-pathway indices into `timestamps` for the window ending at `end_time` (steps 1 and 2 above)."""
    grid = time_grid_indices(timestamps, end_time, geometry)
    return [grid[idx] for idx in pathway_indices(len(grid), geometry)]


def distinct_frames(index_lists: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """THE gather of every window cutter: which frames to copy, once each, and where each list finds them.

    index_lists: per pathway (or per pathway of several clips) indices into a frame store; Slow's frames are
    a subset of Fast's and a slow source repeats frames, so they overlap. Returns the sorted distinct
    indices (K,) and, per list, its (T_p,) int64 positions into those K frames.
    """
    distinct, inverse = np.unique(np.concatenate(index_lists), return_inverse=True)
    splits = np.cumsum([len(idx) for idx in index_lists])[:-1]
    return distinct, np.split(inverse.reshape(-1).astype(np.int64), splits)
