"""Offline prediction over a video file, without the real-time engine: windows in, top-k labels out.

Windows are cut by the one window cutter the live engine and training use (`video.windows`: `WindowClock`
says when windows end, `cut_window` takes their frames); `preprocess.pathway_tensors` makes the inputs, and
each answer is written as the one `records.PredictionRecord`.

`iter_windows` runs them over decoded frames, preparing each frame once and keeping only the frames the
current and next windows can use (memory stays bounded on a long file); `predict_frames` / `predict_file`
add the model. A window's span is [first grid instant, last grid instant + 1/30 s): T*tau/30 seconds.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from slowfast_core.errors import ConfigError, InferenceError
from slowfast_core.records import PredictionRecord, TopK, top_k
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.video.decode import DecodedFrame, VideoReader
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame
from slowfast_core.video.windows import (
    TIME_EPS,
    WindowClock,
    WindowCut,
    cut_window,
    default_stride,
    window_lead,
    window_span,
)

if TYPE_CHECKING:
    from slowfast_core.backends.base import InferenceBackend
    from slowfast_core.model.net import SlowFast

logger = logging.getLogger(__name__)


def window_inputs(
    frames: Sequence[np.ndarray], timestamps: np.ndarray, end_time: float, geometry: ClipGeometry,
    prep: Preprocessing,
) -> tuple[list[torch.Tensor], WindowCut]:
    """Model inputs for the window ending at `end_time`, and its cut (which frames of the store it took).

    frames: prepared (H, W, 3) RGB uint8 frames (any indexable store) with increasing `timestamps`. The
    shared cutter copies only the frames the pathways take (<= alpha*T), then `pathway_tensors` builds
    [(1, 3, T_p, H', W')] per pathway.
    """
    cut = cut_window(frames, timestamps, end_time, geometry)
    return pathway_tensors(cut.frames, cut.pathway_indices, prep), cut


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
class FileWindow:
    """A window of a file ready for the model: its span and one (1, 3, T_p, H, W) float32 tensor per pathway."""

    span: WindowSpan
    inputs: list[torch.Tensor] = field(repr=False)
    key_frame: np.ndarray | None = field(default=None, repr=False)  # (H, W, 3) RGB uint8: the middle frame (detection)


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
) -> Iterator[FileWindow]:
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
) -> FileWindow:
    """Tensors and span of the window ending at `end_time` from the frames in `store`."""
    times = np.fromiter(store.times, dtype=np.float64, count=len(store.times))
    inputs, cut = window_inputs(store.frames, times, end_time, geometry, prep)
    start, end = window_span(end_time, geometry)
    span = WindowSpan(
        number=number, start=start, end=end, end_time=end_time,
        first_frame=store.indices[int(cut.positions[0])], last_frame=store.indices[int(cut.positions[-1])],
        padded=padded,
    )
    from slowfast_core.detect.people import key_frame_index  # the window's middle frame, for person detection

    return FileWindow(span, inputs, cut.frames[key_frame_index(cut.pathway_indices)])


@dataclass(frozen=True)
class WindowPrediction:
    """The model's answer for one window: its span, the top-k (label, probability) and all probabilities."""

    span: WindowSpan
    topk: TopK  # best first
    probs: np.ndarray = field(repr=False)  # (num_classes,) float32 softmax

    def record(self) -> PredictionRecord:
        """The one prediction record (see `slowfast_core.records`): span in file seconds, frames, padded, top-k."""
        s = self.span
        return PredictionRecord(window=s.number, start=s.start, end=s.end, topk=self.topk,
                                first_frame=s.first_frame, last_frame=s.last_frame, padded=s.padded)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready `record()`."""
        return self.record().to_dict()


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
        probs = probabilities(logits, window=window.span.number).numpy()  # (C,) float32
        yield WindowPrediction(window.span, top_k(probs, categories, topk), probs)


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
