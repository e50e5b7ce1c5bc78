"""Clips for training and testing: where a clip lies in a video, which frames it takes, how they are augmented.

Temporal sampling goes through the one window cutter the live engine and `predict` use: a clip is the window
ending at some `end_time`, and `sampling.sample_window` picks the Slow and Fast frames from the frame
timestamps; `sampling.distinct_frames` (the gather of every cutter) decodes each frame once. Training draws `end_time` uniformly (the paper's random clip of T*tau frames, temporal jitter);
validation takes the centre clip; `evaluate` takes N uniformly spaced clips.

Spatial: training resizes the short side to a random value in `scale` ([256, 320] in the paper; [128, 160]
for the tiny models), takes a random `crop` x `crop` square and flips half of the clips; testing resizes the
short side to the model's input size and takes the centre (or left/centre/right) square, exactly as the
live engine prepares frames (`preprocess.prepare_frame` + `pathway_tensors`).

`ClipDataset` is map-style and decodes in DataLoader workers with OpenCV (faster than PyAV here, see the
README), keeping only the frames a clip needs. Its items are indexed by `(epoch, index)` so augmentation is
a pure function of (seed, epoch, index): runs resume exactly and DDP ranks agree with a single process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from slowfast_core.errors import SlowFastError
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.train.data import Example
from slowfast_core.video.decode import open_capture, usable_fps
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame, short_side_size
from slowfast_core.video.sampling import distinct_frames, sample_window
from slowfast_core.video.windows import window_lead

logger = logging.getLogger(__name__)

ClipMode = Literal["train", "center"]


@dataclass(frozen=True)
class ClipSampling:
    """How clips are cut and transformed: the model's geometry and preprocessing plus the train augmentation."""

    geometry: ClipGeometry
    prep: Preprocessing  # the model's: normalisation and the test-time short side
    scale: tuple[int, int]  # train: short side drawn uniformly from [lo, hi]
    crop: int  # train: crop size
    flip: bool = True

    @classmethod
    def for_model(cls, geometry: ClipGeometry, prep: Preprocessing, *, scale: tuple[int, int] | None = None,
                  crop: int | None = None, flip: bool = True) -> "ClipSampling":
        """The paper's ratios around the model's input size s: scale [s, 1.25 s], crop 7/8 s (256 -> 224)."""
        s = prep.short_side
        return cls(geometry, prep, scale or (s, int(round(s * 1.25))), crop or int(round(s * 7 / 8)), flip)


def clip_end_times(times: np.ndarray, geometry: ClipGeometry, *, mode: str, rng: np.random.Generator | None = None,
                   views: int = 1) -> list[float]:
    """End times (the window's last grid instant) of the clips to take from frames at `times` (seconds).

    mode "train": one end drawn uniformly from every possible position; "center": the middle clip;
    "uniform": `views` ends evenly spread from the first possible to the last frame. A video shorter than
    a window gives the first window (its edge frames repeat, as in `predict`).
    """
    first, last = float(times[0]) + window_lead(geometry), float(times[-1])
    if last <= first:
        return [first] * (views if mode == "uniform" else 1)
    if mode == "train":
        assert rng is not None
        return [float(rng.uniform(first, last))]
    if mode == "center":
        return [0.5 * (first + last)]
    if mode == "uniform":
        return [float(t) for t in np.linspace(first, last, views)] if views > 1 else [0.5 * (first + last)]
    raise ValueError(f"unknown clip mode {mode!r}")


def read_frames_at(example: Example, geometry: ClipGeometry, *, mode: str, rng: np.random.Generator | None = None,
                   views: int = 1) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Decode only the frames the clips of `example` take.

    Returns the distinct frames, (K, H, W, 3) RGB uint8 at the file's size, and per clip its per-pathway
    indices into them. Timestamps are index / fps (the container's frame count says how many there are; a
    file that holds fewer frames repeats its last one). Raises SlowFastError for an unreadable file.
    """
    cap = open_capture(example.path)
    try:
        fps, _ = usable_fps(cap.get(cv2.CAP_PROP_FPS), example.path)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count <= 0:
            raise SlowFastError(f"{example.path} does not say how many frames it has: re-encode it as mp4")
        times = np.arange(count, dtype=np.float64) / fps
        first = 0 if example.start is None else int(np.searchsorted(times, example.start - 1e-6))
        stop = count if example.end is None else int(np.searchsorted(times, example.end - 1e-6))
        first, stop = min(first, count - 1), max(min(stop, count), min(first, count - 1) + 1)
        span = times[first:stop]  # (M,) the example's frames
        ends = clip_end_times(span, geometry, mode=mode, rng=rng, views=views)
        per_clip = [[idx + first for idx in sample_window(span, end, geometry)] for end in ends]  # file indices
        wanted, local = distinct_frames([idx for clip in per_clip for idx in clip])  # the shared gather
        frames = _decode_indices(cap, wanted, example)
    finally:
        cap.release()
    paths = len(per_clip[0])
    return frames, [local[k * paths : (k + 1) * paths] for k in range(len(per_clip))]


def _decode_indices(cap: cv2.VideoCapture, wanted: np.ndarray, example: Example) -> np.ndarray:
    """Frames at sorted file indices `wanted`, RGB; seeks to the first one, grabs through the rest."""
    start = int(wanted[0])
    if start > 0:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out: list[np.ndarray] = []
    position, want = start, 0
    last: np.ndarray | None = None
    while want < len(wanted):
        if not cap.grab():
            break
        if position == wanted[want]:
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                break
            last = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            while want < len(wanted) and wanted[want] == position:
                out.append(last)
                want += 1
        position += 1
    if last is None:
        raise SlowFastError(f"{example.path} yields no frame at {start}: the file is damaged or cut short")
    out.extend([last] * (len(wanted) - len(out)))  # a file shorter than it claims: repeat its last frame
    return np.stack(out)


def augment(frames: np.ndarray, rng: np.random.Generator, sampling: ClipSampling) -> np.ndarray:
    """Train-time spatial jitter of a whole clip: (K, H, W, 3) uint8 -> (K, crop, crop, 3) uint8.

    Short side resized to a value drawn from `sampling.scale`, a random crop x crop square, and a horizontal
    flip half of the time; the same for every frame of the clip.
    """
    lo, hi = sampling.scale
    short = int(rng.integers(lo, hi + 1))
    h, w = frames.shape[1:3]
    new_h, new_w = short_side_size(h, w, short)
    crop = min(sampling.crop, new_h, new_w)
    y = int(rng.integers(0, new_h - crop + 1))
    x = int(rng.integers(0, new_w - crop + 1))
    flip = sampling.flip and bool(rng.integers(0, 2))
    out = np.empty((len(frames), crop, crop, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        patch = resized[y : y + crop, x : x + crop]
        out[i] = patch[:, ::-1] if flip else patch
    return out


def spatial_crops(frames: np.ndarray, prep: Preprocessing, crops: int) -> list[np.ndarray]:
    """Test-time views: the short side resized to the model's input size (as live), then 1 centre square or 3
    squares (left/top, centre, right/bottom along the long side, the paper's 3-crop testing)."""
    resized = np.stack([cv2.resize(f, short_side_size(*f.shape[:2], prep.short_side)[::-1],
                                   interpolation=cv2.INTER_LINEAR) for f in frames])
    if crops == 1:
        return [resized]  # pathway_tensors' centre crop does the rest, as in the live engine
    h, w = resized.shape[1:3]
    size = min(h, w)
    offsets = np.linspace(0, max(h, w) - size, 3).round().astype(int)
    if w >= h:
        return [resized[:, :, o : o + size] for o in offsets]
    return [resized[:, o : o + size] for o in offsets]


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The augmentation randomness of one example in one epoch: a pure function of the three numbers."""
    return np.random.default_rng([seed, epoch, index])


Item = tuple[list[torch.Tensor] | None, int, int]  # per-pathway (3, T_p, S, S) tensors, label, example index


class ClipDataset(Dataset):
    """Examples as model inputs. Indexed by (epoch, index) (see `EpochSampler`), or by index for epoch 0.

    mode "train": random clip + `augment`; "center": the centre clip prepared as the live engine does.
    An unreadable example gives (None, -1, index): the loop skips and counts it rather than stopping.
    """

    def __init__(self, examples: Sequence[Example], sampling: ClipSampling, *, mode: ClipMode, seed: int = 0) -> None:
        self.examples = list(examples)
        self.sampling = sampling
        self.mode = mode
        self.seed = seed

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        example = self.examples[index]
        try:
            return self.load(example, example_rng(self.seed, epoch, index)), example.label, index
        except (SlowFastError, cv2.error, OSError) as exc:
            logger.debug("skipping %s: %s", example.path, exc)
            return None, -1, index

    def load(self, example: Example, rng: np.random.Generator) -> list[torch.Tensor]:
        """One clip of `example`: per pathway (3, T_p, S, S) float32, normalised."""
        s = self.sampling
        frames, clips = read_frames_at(example, s.geometry, mode=self.mode, rng=rng)
        if self.mode == "train":
            frames = augment(frames, rng, s)
            prep = replace(s.prep, short_side=frames.shape[1], crop="full")
        else:
            frames = np.stack([prepare_frame(f[..., ::-1], s.prep.short_side) for f in frames])  # as live
            prep = s.prep
        return [t.squeeze(0) for t in pathway_tensors(frames, clips[0], prep)]


class EpochSampler(Sampler):
    """Wraps an index sampler (e.g. DistributedSampler) so each index carries the epoch: (epoch, index)."""

    def __init__(self, base: Sampler) -> None:
        self.base = base
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Also forwards to the base sampler (DistributedSampler reshuffles by epoch)."""
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self):
        return ((self.epoch, int(i)) for i in self.base)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]


def collate(items: list[Item]) -> tuple[list[torch.Tensor] | None, torch.Tensor, list[int]]:
    """Stack the readable items: ([per pathway (B, 3, T_p, S, S)], labels (B,), skipped example indices)."""
    good = [it for it in items if it[0] is not None]
    skipped = [it[2] for it in items if it[0] is None]
    if not good:
        return None, torch.zeros(0, dtype=torch.long), skipped
    inputs = [torch.stack([it[0][p] for it in good]) for p in range(len(good[0][0]))]  # type: ignore[index]
    return inputs, torch.tensor([it[1] for it in good], dtype=torch.long), skipped
