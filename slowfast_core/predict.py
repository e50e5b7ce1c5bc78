"""Offline prediction over a video file, without the real-time engine: windows in, top-k labels out.

The pieces are shared with the live engine so both sample windows the same way:
- `window_end_times(timestamps, geometry, stride)` / `WindowClock`: when windows end. The first window ends
  T*tau reference frames (at 30 fps) after the first frame; then one every `stride` seconds.
- `window_inputs(frames, timestamps, end_time, geometry, prep)`: the model's input tensors for one window,
  through `sampling.sample_window` and `preprocess.pathway_tensors` (the one code path for sampling).

`iter_windows` runs them over decoded frames, preparing each frame once and keeping only the frames the
current and next windows can use (memory stays bounded on a long file); `predict_frames` / `predict_file`
add the model. A window's span is [first grid instant, last grid instant + 1/30 s): T*tau/30 seconds.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from slowfast_core.errors import ConfigError, InferenceError
from slowfast_core.spec import REFERENCE_FPS, ClipGeometry, Preprocessing
from slowfast_core.video.decode import DecodedFrame, VideoReader
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame
from slowfast_core.video.sampling import sample_window

if TYPE_CHECKING:
    from slowfast_core.backends.base import InferenceBackend
    from slowfast_core.model.net import SlowFast

logger = logging.getLogger(__name__)

#: Float slack when comparing a window's end time with frame timestamps (index / fps).
TIME_EPS = 1e-6
#: Default stride as a fraction of the window: consecutive windows overlap by half.
DEFAULT_STRIDE_FRACTION = 0.5

_STRIDE_RE = re.compile(r"^\s*(?P<value>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>f|s)?\s*$")


def parse_stride(text: str) -> float:
    """A stride in seconds from '16f' (frames at 30 fps), '0.5s' or '0.5' (seconds). Must be positive."""
    match = _STRIDE_RE.match(text)
    value = float(match.group("value")) if match else float("nan")
    if not match or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"stride {text!r} is not valid: use seconds like 0.5 or 0.5s, or 30 fps frames like 16f")
    return value / REFERENCE_FPS if match.group("unit") == "f" else value


def default_stride(geometry: ClipGeometry) -> float:
    """Half a window, in seconds (e.g. 32/30 s for 8x8 models)."""
    return geometry.window_seconds * DEFAULT_STRIDE_FRACTION


def window_lead(geometry: ClipGeometry) -> float:
    """Seconds from a window's first grid instant to its last: (T*tau - 1) / 30."""
    return (geometry.window_frames - 1) / REFERENCE_FPS


class WindowClock:
    """When windows end, decided incrementally as frames arrive (what the live engine needs too).

    Window k ends at `first_end + k * stride`, first_end = start_time + (T*tau - 1)/30 (the first window's
    grid starts at the first frame). A window is due once a frame at or after its end time has arrived:
    later frames cannot be nearer to any of its grid instants.
    """

    def __init__(self, *, geometry: ClipGeometry, stride: float, start_time: float) -> None:
        if not stride > 0:
            raise ConfigError(f"stride must be positive seconds, got {stride}")
        self.geometry = geometry
        self.stride = float(stride)
        self.first_end = float(start_time) + window_lead(geometry)
        self.count = 0  # windows handed out so far

    @property
    def next_end(self) -> float:
        """End time (last grid instant, seconds) of the next window."""
        return self.first_end + self.count * self.stride

    @property
    def next_start(self) -> float:
        """First grid instant of the next window: frames before the one at or before it are never needed."""
        return self.next_end - window_lead(self.geometry)

    def due(self, latest_time: float) -> list[float]:
        """End times of the windows that a frame at `latest_time` completes (and counts them as handed out)."""
        ends: list[float] = []
        while self.next_end <= latest_time + TIME_EPS:
            ends.append(self.next_end)
            self.count += 1
        return ends

    def finish(self, last_time: float, *, tail: bool = True) -> list[float]:
        """End times to add when the clip is over at `last_time`.

        No window yet (clip shorter than one window): one window at `first_end`, whose grid instants after
        the last frame repeat it. `tail`: a last window ending at the last frame when frames came after the
        last regular window, so the end of the clip is seen too.
        """
        if self.count == 0:
            self.count = 1
            return [self.first_end]
        last_end = self.next_end - self.stride
        if tail and last_time > last_end + TIME_EPS:
            self.count += 1
            return [float(last_time)]
        return []


def window_end_times(
    timestamps: Sequence[float] | np.ndarray, geometry: ClipGeometry, stride: float, *, final: bool = True,
    tail: bool = True,
) -> np.ndarray:
    """End times (seconds, last grid instant) of the windows over frames at `timestamps` (increasing).

    final=False (a live source, more frames to come): only windows whose frames have all arrived.
    final=True (a whole file): plus the short-clip window or the tail window of `WindowClock.finish`.
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or len(ts) == 0:
        raise ConfigError("need at least one frame timestamp to place windows")
    clock = WindowClock(geometry=geometry, stride=stride, start_time=float(ts[0]))
    ends = clock.due(float(ts[-1]))
    if final:
        ends += clock.finish(float(ts[-1]), tail=tail)
    return np.asarray(ends, dtype=np.float64)


def window_inputs(
    frames: Sequence[np.ndarray], timestamps: np.ndarray, end_time: float, geometry: ClipGeometry,
    prep: Preprocessing,
) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    """Model inputs for the window ending at `end_time`, and the per-pathway indices into `frames`.

    frames: prepared (H, W, 3) RGB uint8 frames (any indexable store) with increasing `timestamps`.
    Only the frames the pathways take are gathered (<= alpha*T copies), then `pathway_tensors` builds
    [(1, 3, T_p, H', W')] per pathway.
    """
    indices = sample_window(timestamps, end_time, geometry)  # [(T_p,)] indices into frames
    needed = np.unique(np.concatenate(indices))
    gathered = np.stack([frames[i] for i in needed])  # (K, H, W, 3) uint8
    local = [np.searchsorted(needed, idx) for idx in indices]
    return pathway_tensors(gathered, local, prep), indices


@dataclass(frozen=True)
class WindowSpan:
    """Where a window lies in the file.

    start/end: the span in seconds, [first grid instant, last grid instant + 1/30), T*tau/30 long.
    end_time: the last grid instant (what `sample_window` takes). first_frame/last_frame: file frame indices
    of the earliest and latest frames sampled. padded: the clip was shorter than a window, so its last frame
    was repeated to fill it.
    """

    number: int
    start: float
    end: float
    end_time: float
    first_frame: int
    last_frame: int
    padded: bool = False


@dataclass(frozen=True)
class Window:
    """A window ready for the model: its span and one (1, 3, T_p, H, W) float32 tensor per pathway."""

    span: WindowSpan
    inputs: list[torch.Tensor] = field(repr=False)


class _FrameStore:
    """Prepared frames with their timestamps and file indices, oldest first; the caller evicts old ones."""

    def __init__(self) -> None:
        self.frames: deque[np.ndarray] = deque()
        self.times: deque[float] = deque()
        self.indices: deque[int] = deque()
        self.peak = 0  # most frames held at once (tests check memory stays bounded)

    def push(self, index: int, timestamp: float, frame: np.ndarray) -> None:
        self.frames.append(frame)
        self.times.append(timestamp)
        self.indices.append(index)
        self.peak = max(self.peak, len(self.frames))

    def drop_before(self, instant: float) -> None:
        """Drop frames that can no longer be nearest to `instant` or anything later: keep the last one <= it."""
        while len(self.times) >= 2 and self.times[1] <= instant + TIME_EPS:
            self.frames.popleft()
            self.times.popleft()
            self.indices.popleft()


def iter_windows(
    frames: Iterable[DecodedFrame], *, geometry: ClipGeometry, prep: Preprocessing, stride: float | None = None,
    tail: bool = True, store_stats: dict[str, int] | None = None,
) -> Iterator[Window]:
    """Windows over decoded BGR frames: each frame is prepared once (RGB, short side = prep.short_side).

    Holds only the frames the next window can take (from its first grid instant on) and, with `tail`, those a
    window ending at the newest frame can take: at most about one window plus one stride of frames, however
    long the file. `tail`: see `WindowClock.finish`. `store_stats`, when given, receives {"peak_frames": n}
    at the end.
    """
    stride = default_stride(geometry) if stride is None else stride
    store = _FrameStore()
    clock: WindowClock | None = None
    frame_shape: tuple[int, ...] | None = None
    last_time = 0.0
    for index, timestamp, bgr in frames:
        frame = prepare_frame(bgr, prep.short_side)  # (H, W, 3) RGB uint8
        if frame_shape is None:
            frame_shape = frame.shape
        elif frame.shape != frame_shape:  # a stream whose size changes: keep the first size
            logger.warning("frame %d has size %s, earlier frames %s: resizing it to match", index,
                           frame.shape[1::-1], frame_shape[1::-1])
            frame = cv2.resize(frame, (frame_shape[1], frame_shape[0]), interpolation=cv2.INTER_LINEAR)
        if clock is None:
            clock = WindowClock(geometry=geometry, stride=stride, start_time=timestamp)
        store.push(index, timestamp, frame)
        last_time = timestamp
        for end_time in clock.due(timestamp):
            yield _make_window(store, clock.count - 1, end_time, geometry, prep, padded=False)
        # keep what the next regular window may take, and (tail) what a window ending at a later frame may take
        keep_from = clock.next_start if not tail else min(clock.next_start, timestamp - window_lead(geometry))
        store.drop_before(keep_from)
    if clock is None:
        return  # no frames: the decoder raises VideoError for that before we get here
    for end_time in clock.finish(last_time, tail=tail):
        padded = end_time > last_time + TIME_EPS
        yield _make_window(store, clock.count - 1, end_time, geometry, prep, padded=padded)
    if store_stats is not None:
        store_stats["peak_frames"] = store.peak


def _make_window(
    store: _FrameStore, number: int, end_time: float, geometry: ClipGeometry, prep: Preprocessing, *, padded: bool,
) -> Window:
    """Tensors and span of the window ending at `end_time` from the frames in `store`."""
    times = np.fromiter(store.times, dtype=np.float64, count=len(store.times))
    inputs, indices = window_inputs(store.frames, times, end_time, geometry, prep)
    used = np.concatenate(indices)
    span = WindowSpan(
        number=number,
        start=end_time - window_lead(geometry),
        end=end_time + 1.0 / REFERENCE_FPS,
        end_time=end_time,
        first_frame=store.indices[int(used.min())],
        last_frame=store.indices[int(used.max())],
        padded=padded,
    )
    return Window(span, inputs)


@dataclass(frozen=True)
class WindowPrediction:
    """The model's answer for one window: its span, the top-k (label, probability) and all probabilities."""

    span: WindowSpan
    topk: tuple[tuple[str, float], ...]  # best first
    probs: np.ndarray = field(repr=False)  # (num_classes,) float32 softmax

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: window number, span (seconds, rounded to 1 us), frames, padded, topk [{label, prob}]."""
        s = self.span
        return {
            "window": s.number,
            "start": round(s.start, 6),
            "end": round(s.end, 6),
            "first_frame": s.first_frame,
            "last_frame": s.last_frame,
            "padded": s.padded,
            "topk": [{"label": label, "prob": round(prob, 6)} for label, prob in self.topk],
        }


TopK = tuple[tuple[str, float], ...]


def probabilities(logits: torch.Tensor, *, window: int | None = None) -> torch.Tensor:
    """Softmax probabilities (C,) of one window's logits (1, C). InferenceError when a logit is NaN or infinite:
    such an output is an error (broken weights or backend), never a prediction and never NaN in a JSON line."""
    flat = logits.detach().float().reshape(-1).cpu()  # (C,)
    if not bool(torch.isfinite(flat).all()):
        bad = int((~torch.isfinite(flat)).sum())
        where = "" if window is None else f" for window {window}"
        raise InferenceError(f"the model's output{where} is not a number ({bad} of {flat.numel()} values NaN or "
                             "infinite): no prediction was made; the weights or the backend are broken (try "
                             "--backend torch-eager, or other weights)")
    return torch.softmax(flat, dim=0)


def topk_labels(logits: torch.Tensor, categories: Sequence[str], k: int, *, window: int | None = None,
                ) -> tuple[TopK, np.ndarray]:
    """(top-k (label, probability) best first, softmax probabilities (C,)) from logits (1, C); InferenceError
    for a non-finite output (see `probabilities`)."""
    probs = probabilities(logits, window=window)  # (C,)
    k = max(1, min(k, probs.numel()))
    values, ids = torch.topk(probs, k)
    top = tuple((str(categories[i]), float(v)) for v, i in zip(values.tolist(), ids.tolist()))
    return top, probs.numpy().astype(np.float32)


def predict_frames(
    frames: Iterable[DecodedFrame], *, backend: "InferenceBackend", stride: float | None = None, topk: int = 5,
    preprocessing: Preprocessing | None = None, tail: bool = True,
) -> Iterator[WindowPrediction]:
    """Run `backend` (which holds the model) on every window of `frames`; yields one prediction per window.

    preprocessing: defaults to the model's (its weights' short side, mean, std, crop).
    """
    if topk < 1:
        raise ConfigError(f"topk must be >= 1, got {topk}")
    model = backend.model
    prep = preprocessing or model.meta.preprocessing
    categories = model.meta.categories
    for window in iter_windows(frames, geometry=model.config.geometry, prep=prep, stride=stride, tail=tail):
        logits = backend(window.inputs)  # (1, num_classes)
        top, probs = topk_labels(logits, categories, topk, window=window.span.number)
        yield WindowPrediction(window.span, top, probs)


def predict_file(
    path: str | os.PathLike[str], *, model: "SlowFast", backend: str = "auto", device: str = "auto",
    stride: float | None = None, topk: int = 5, short_side: int | None = None, crop: str | None = None,
) -> list[WindowPrediction]:
    """Decode `path` and predict every window with `model`: the Python form of `slowfast predict`.

    short_side / crop override the model's preprocessing. Raises VideoError for unreadable files; a file
    cut short gives the windows of what could be decoded (with a warning).
    """
    from slowfast_core.backends.base import create_backend

    prep = model.meta.preprocessing
    if short_side is not None:
        prep = replace(prep, short_side=short_side)
    if crop is not None:
        prep = replace(prep, crop=crop)
    runner = create_backend(model, backend=backend, device=device)
    with VideoReader(path) as video:
        return list(predict_frames(video.frames(), backend=runner, stride=stride, topk=topk, preprocessing=prep))
