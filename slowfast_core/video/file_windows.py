"""Windows over a file's decoded frames, cut by the one window cutter (`video.windows`) the live engine and
training use: each frame prepared once (RGB, the model's short side), only the frames the current and next
windows can use kept (memory stays bounded on a long file), each window's span and model inputs out.

Used by offline prediction (`slowfast_core.predict`), int8 calibration (`backends.calibration`) and the
transform checks. A window's span is [first grid instant, last grid instant + 1/30 s): T*tau/30 seconds.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.video.decode import DecodedFrame
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame
from slowfast_core.video.windows import (
    TIME_EPS,
    WindowClock,
    WindowCut,
    cut_window,
    key_frame_index,
    default_stride,
    window_span,
)

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
        store.drop_before(clock.keep_from(timestamp, tail=tail))
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
    return FileWindow(span, inputs, cut.frames[key_frame_index(cut.pathway_indices)])
