"""The window scheduler: decides when a window is cut from the ring buffer and which frames it holds.

Which frames: the shared window cutter (`video.windows.window_positions`, as `slowfast predict` and training
use it), applied to the buffered timestamps, so a window always spans T*tau frames of 30 fps time whatever the source's rate. Only the frames
the pathways use are copied out, once; normalisation happens later in the worker, on windows that are run.

When, live ("latest" mode): every `stride` (seconds, or frames) a window is due. Before the buffer covers a
whole window (the first seconds after a start or a model switch), a *padded* window is cut instead: the frames
so far with the oldest one repeated back to the window's start, as `slowfast predict` pads a clip shorter than
a window, marked `padded` so the overlay says so; full windows follow as soon as the span is covered. That
way the first prediction needs the model, not ~2 s of video (`partial`, on by default live).
If the inference worker is idle, the newest window is cut at once and handed over; if it is busy, the window
waits for it, and when it frees up it gets the newest frames, not the old ones. Each further stride that passes while it is busy is a
window that went stale: dropped and counted, never queued. Inference slower than real time therefore skips
windows instead of falling behind.

When, offline ("every" mode, unpaced files): at exactly the window end times `slowfast predict` uses, each
window handed over only when the worker is free, and the capture thread held back so no frame is lost.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from slowfast_core.errors import SlowFastError
from slowfast_core.spec import ClipGeometry
from slowfast_core.stream.types import EngineError
from slowfast_core.stream.worker import END_OF_STREAM, LatestSlot
from slowfast_core.stream.ringbuffer import RingBuffer
from slowfast_core.video.windows import TIME_EPS, WindowClock, window_positions, window_span

logger = logging.getLogger(__name__)

ScheduleMode = Literal["latest", "every"]

#: a window is cut only when the buffer covers its span to within this fraction of a frame
SPAN_TOLERANCE_FRAMES = 0.5
#: a padded window needs at least this fraction of its span in the buffer (a quarter: ~0.5 s of an 8x8 window,
#: so the Fast pathway sees some motion; less is a still picture)
MIN_PADDED_COVERAGE = 0.25


@dataclass(frozen=True)
class LiveWindow:
    """The frames one inference needs, copied out of the ring buffer by the shared window cutter.

    frames holds each distinct frame once; `pathway_indices[p]` picks pathway p's frames from it.
    """

    id: int
    generation: int  # bumped when the source or the model changes: older windows are not run
    frames: np.ndarray  # (K, h, w, 3) uint8 RGB, short side = model input size
    pathway_indices: list[np.ndarray]  # per pathway (T_p,) indices into frames
    start_time: float  # the window's first grid instant: end_time - (T*tau - 1)/30 (`window_span`)
    end_time: float  # the window's last grid instant (the newest frame's timestamp, live)
    first_index: int  # source index of the earliest frame used
    last_index: int  # source index of the newest frame used
    last_arrival: float  # monotonic capture time of the newest frame used: start of end-to-end latency
    created: float  # monotonic time the window was cut
    cut_ms: float  # time spent selecting and copying the frames
    geometry: ClipGeometry = field(compare=False)
    padded: bool = False  # the buffer did not cover the span yet: the oldest frame repeated back to start_time


def cut_live_window(buffer: RingBuffer, end_time: float, geometry: ClipGeometry, *, window_id: int = 0,
                    generation: int = 0, padded: bool = False) -> LiveWindow | None:
    """The window ending at `end_time`, cut from the buffer by `windows.window_positions` (None: buffer empty).

    The positions are chosen under the buffer's lock (`RingBuffer.take`), so the copy is consistent.
    """
    t0 = time.monotonic()
    chosen: list[list[np.ndarray]] = []

    def select(timestamps: np.ndarray) -> np.ndarray:
        positions, local = window_positions(timestamps, end_time, geometry)  # positions into buffered frames
        chosen.append(local)
        return positions

    taken = buffer.take(select)
    if taken is None:
        return None
    created = time.monotonic()
    return LiveWindow(
        id=window_id, generation=generation, frames=taken.frames, pathway_indices=chosen[-1],
        start_time=window_span(float(end_time), geometry)[0], end_time=float(end_time),
        first_index=int(taken.indices[0]), last_index=int(taken.indices[-1]),
        last_arrival=float(taken.arrivals.max()), created=created, cut_ms=(created - t0) * 1000.0,
        geometry=geometry, padded=padded,
    )


class WindowScheduler(threading.Thread):
    """Cuts windows from the ring buffer and hands them to the worker's latest-only slot (see module doc)."""

    def __init__(self, *, buffer: RingBuffer, geometry: ClipGeometry, slot: LatestSlot, fps: float,
                 stride_s: float = 0.5, stride_frames: int | None = None, mode: ScheduleMode = "latest",
                 generation: int = 0, partial: bool = False,
                 on_error: Callable[[EngineError], None] | None = None) -> None:
        super().__init__(name="slowfast-scheduler", daemon=False)
        self.mode = mode
        self.partial = partial  # latest mode: padded windows until the buffer covers a whole window
        self.slot = slot
        self.fps = fps
        self._on_error = on_error or (lambda error: None)
        self._lock = threading.Lock()
        self._buffer = buffer
        self._geometry = geometry
        self._generation = generation
        self._stride_s = stride_s
        self._stride_frames = stride_frames
        self._stop_event = threading.Event()
        self._ended = threading.Event()
        self._next_id = 0
        self.windows_cut = 0
        self.windows_stale = 0

    # --- control (any thread) ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish promptly (wakes a wait on the buffer by closing nothing: the loop polls every 0.25 s at most)."""
        self._stop_event.set()

    def source_ended(self) -> None:
        """The capture reached the end of the stream: flush what is due, then hand over END_OF_STREAM."""
        self._ended.set()

    def set_stride(self, *, stride_s: float | None = None, stride_frames: int | None = None) -> None:
        """Change the stride live (seconds, or frames when stride_frames is given)."""
        with self._lock:
            if stride_s is not None:
                self._stride_s, self._stride_frames = stride_s, None
            if stride_frames is not None:
                self._stride_frames = stride_frames

    def retarget(self, buffer: RingBuffer, geometry: ClipGeometry, generation: int) -> None:
        """Read from another buffer with another geometry from now on (the model changed)."""
        with self._lock:
            self._buffer, self._geometry, self._generation = buffer, geometry, generation

    def _current(self) -> tuple[RingBuffer, ClipGeometry, int]:
        with self._lock:
            return self._buffer, self._geometry, self._generation

    def _stride(self) -> tuple[float, int | None]:
        with self._lock:
            return self._stride_s, self._stride_frames

    # --- thread -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            if self.mode == "latest":
                self._run_latest()
            else:
                self._run_every()
        except BaseException as exc:  # reported, never silent
            logger.debug("scheduler failed", exc_info=True)
            message = str(exc) if isinstance(exc, SlowFastError) else (
                f"window scheduler failed: {type(exc).__name__}: {exc}")
            self._on_error(EngineError("scheduler", message, fatal=True, exception=exc))
        finally:
            if self._ended.is_set() and not self._stop_event.is_set():
                self._hand_over(END_OF_STREAM)

    def _hand_over(self, item: object) -> bool:
        """Put `item` in the slot once the worker has taken the previous one; False when it was not delivered
        (stopped meanwhile, or the slot closed)."""
        while not self._stop_event.is_set():
            if self.slot.put(item, block=True, timeout=0.25):
                return True
            if self.slot.closed:
                return False
        return False

    def _run_latest(self) -> None:
        seen = 0
        buffer, _, _ = self._current()
        due_time: float | None = None  # when the next window is due (seconds), None: as soon as the span is full
        due_index: int | None = None
        cut_here = 0  # windows cut from this buffer
        while not self._stop_event.is_set():
            target, geometry, generation = self._current()
            if target is not buffer:  # model changed: new buffer, start over
                buffer, seen, due_time, due_index, cut_here = target, 0, None, None, 0
            written = buffer.wait_for_frame(seen, timeout=0.25)
            if self._stop_event.is_set():
                return
            if written == seen:  # timed out, or the buffer was closed
                if self._ended.is_set():
                    if self.partial and cut_here == 0:
                        self._flush_short(buffer, geometry, generation)
                    return
                if buffer.closed and self._current()[0] is buffer:
                    self._stop_event.wait(0.05)  # closed for a switch about to be announced
                continue
            seen = written
            span = buffer.span()
            if span is None:
                continue
            oldest, newest = span
            period = 1.0 / self.fps
            padded = not self._covers(span, geometry) and written < buffer.capacity
            if padded and not (self.partial and newest - oldest + period >= MIN_PADDED_COVERAGE
                               * geometry.window_seconds):
                continue  # the first window waits until the buffer covers enough of a window (or is full)
            newest_count = written - 1  # frames written into this buffer: the stride in frames counts these
            stride_s, stride_frames = self._stride()
            if stride_frames is not None:
                if due_index is not None and newest_count < due_index:
                    continue
            elif due_time is not None and newest < due_time - SPAN_TOLERANCE_FRAMES * period:
                continue
            if not self.slot.consumer_waiting:
                continue  # due, but the worker is busy: it gets the newest frames when it frees up
            stale = self._count_stale(newest, newest_count, due_time, due_index, stride_s, stride_frames)
            window = cut_live_window(buffer, newest, geometry, window_id=self._next_id, generation=generation,
                                     padded=padded)
            if window is None:
                continue
            replaced_before = self.slot.replaced
            if not self.slot.put(window):
                return  # the slot is closed (the worker is gone): nothing was delivered, nothing more will be
            self._next_id += 1
            self.windows_cut += 1
            cut_here += 1
            stale += self.slot.replaced - replaced_before  # a window still waiting was replaced: it went stale
            self.windows_stale += stale
            due_time = newest + stride_s
            due_index = newest_count + (stride_frames or 0)

    def _covers(self, span: tuple[float, float], geometry: ClipGeometry) -> bool:
        """True when buffered frames stamped from span[0] to span[1] cover a whole window (within tolerance)."""
        return span[1] - span[0] >= geometry.window_seconds - (1 + SPAN_TOLERANCE_FRAMES) / self.fps

    def _flush_short(self, buffer: RingBuffer, geometry: ClipGeometry, generation: int) -> None:
        """The stream ended before a window was cut from `buffer` (a clip shorter than a window, or shorter than
        the model's start): one padded window of what is there, as `slowfast predict` pads a short clip."""
        span = buffer.span()
        if span is None:
            return
        window = cut_live_window(buffer, span[1], geometry, window_id=self._next_id, generation=generation,
                                 padded=not self._covers(span, geometry))
        if window is not None and self._hand_over(window):
            self._next_id += 1
            self.windows_cut += 1

    def _count_stale(self, newest: float, newest_index: int, due_time: float | None, due_index: int | None,
                     stride_s: float, stride_frames: int | None) -> int:
        """Windows that fell due after the pending one while the worker was busy: each one went stale."""
        if stride_frames is not None:
            return 0 if due_index is None else max(0, (newest_index - due_index) // stride_frames)
        if due_time is None:
            return 0
        tolerance = SPAN_TOLERANCE_FRAMES / self.fps
        return max(0, int(math.floor((newest - due_time + tolerance) / stride_s)))

    def _run_every(self) -> None:
        """Offline: the window end times of `slowfast predict` (its WindowClock), each window run, and the
        capture held back so that no frame a window needs is overwritten and none goes unseen."""
        buffer, geometry, generation = self._current()
        buffer.hold_from(-math.inf)
        clock: WindowClock | None = None
        last_index = -1
        last_time = 0.0
        while not self._stop_event.is_set():
            ended = self._ended.is_set()  # read before the buffer: every frame was written before `ended`
            buffer.wait_for_frame(last_index + 1, timeout=0.25)
            times, indices = buffer.stamps()
            fresh = indices > last_index
            ends: list[float] = []
            if fresh.any():
                last_index = int(indices[fresh][-1])
                last_time = float(times[fresh][-1])
                if clock is None:
                    clock = WindowClock(geometry=geometry, stride=self._stride()[0], start_time=float(times[fresh][0]))
                ends += clock.due(last_time)
            if clock is None:
                if ended:
                    return
                continue
            if ended:
                ends += clock.finish(last_time)
            for end in ends:  # a tail window past the last frame is padded, as `slowfast predict` marks it
                window = cut_live_window(buffer, end, geometry, window_id=self._next_id, generation=generation,
                                         padded=end > last_time + TIME_EPS)
                if window is None or not self._hand_over(window):
                    return
                self._next_id += 1
                self.windows_cut += 1
            if ended:
                return
            # the writer may overwrite only frames older than what the next window, or a tail window ending at
            # the newest frame, can use (the rule `video.file_windows.iter_windows` keeps them by too)
            buffer.hold_from(clock.keep_from(last_time) - 2.0 / self.fps)
