"""The ring buffer: the program's only frame store, preallocated and fixed in size.

One writer (the capture thread) and any number of readers (the window scheduler, tests). Frames are copied in
and out under one lock, so a reader never sees a window whose frames were overwritten half-way ("torn"):
what a read returns is a consistent snapshot, already copied out. Memory is bounded by construction:
capacity x frame size, allocated once.

Readers ask for "the newest N frames", "the frames covering the last S seconds", or any selection computed
from the buffered timestamps (`take`), which is how the scheduler samples a window without copying frames
it does not use. For offline analysis a writer can be held back (`hold_from`) until readers are done with
the frames it would overwrite; live capture never blocks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slowfast_core.errors import ConfigError

#: frames added on top of the computed need, so that the window and its next frame are always present
EXTRA_FRAMES = 4


@dataclass(frozen=True)
class FrameWindow:
    """Frames copied out of the buffer, oldest first, with their stamps."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    timestamps: np.ndarray  # (N,) float64 seconds: the sampling clock (monotonic live, media time offline)
    indices: np.ndarray  # (N,) int64 running frame index
    arrivals: np.ndarray  # (N,) float64 monotonic seconds the frame was captured

    def __len__(self) -> int:
        return len(self.timestamps)


class BufferClosed(Exception):
    """Raised by a blocking write when the buffer was closed meanwhile."""


class RingBuffer:
    """Fixed-capacity store of (frame, timestamp, index, arrival), preallocated uint8."""

    def __init__(self, *, capacity: int, frame_shape: tuple[int, int, int]) -> None:
        if capacity < 2:
            raise ConfigError(f"ring buffer capacity must be at least 2 frames, got {capacity}")
        if len(frame_shape) != 3 or frame_shape[2] != 3 or min(frame_shape) < 1:
            raise ConfigError(f"ring buffer frames must be (H, W, 3), got {frame_shape}")
        self.capacity = int(capacity)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self._frames = np.zeros((self.capacity, *self.frame_shape), dtype=np.uint8)  # (C, H, W, 3)
        self._timestamps = np.full(self.capacity, -math.inf, dtype=np.float64)
        self._indices = np.full(self.capacity, -1, dtype=np.int64)
        self._arrivals = np.zeros(self.capacity, dtype=np.float64)
        self._written = 0  # total frames ever written; the next slot is _written % capacity
        self._hold: float | None = None  # blocking writes keep frames stamped at or after this time
        self._closed = False
        self._cond = threading.Condition()

    @staticmethod
    def capacity_for(*, fps: float, window_seconds: float, margin_seconds: float = 1.0) -> int:
        """Frames needed to hold one window of `window_seconds` at `fps`, plus `margin_seconds` and a few extra."""
        if fps <= 0 or window_seconds <= 0 or margin_seconds < 0:
            raise ConfigError(f"cannot size a ring buffer for {fps} fps and a {window_seconds} s window")
        return int(math.ceil((window_seconds + margin_seconds) * fps)) + EXTRA_FRAMES

    @property
    def nbytes(self) -> int:
        """Bytes held by the frame array (the buffer's whole footprint, give or take the stamps)."""
        return int(self._frames.nbytes)

    # --- writer -----------------------------------------------------------------------------------------------
    def write(self, frame: np.ndarray, *, timestamp: float, index: int, arrival: float | None = None,
              block: bool = False, timeout: float | None = None) -> bool:
        """Copy `frame` (H, W, 3) uint8 into the next slot. Timestamps and indices must increase.

        block=True waits while the slot to overwrite holds a frame still held by `hold_from` (offline mode);
        returns False if that wait timed out. Raises BufferClosed when the buffer is closed.
        """
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ConfigError(
                f"frame {frame.shape} {frame.dtype} does not fit the ring buffer's {self.frame_shape} uint8"
            )
        with self._cond:
            if self._closed:
                raise BufferClosed("ring buffer is closed")
            slot = self._written % self.capacity
            if self._written:
                last = (self._written - 1) % self.capacity
                if timestamp <= self._timestamps[last] or index <= self._indices[last]:
                    raise ConfigError(
                        f"frame {index} at {timestamp:.6f} s is not after frame {self._indices[last]} "
                        f"at {self._timestamps[last]:.6f} s: timestamps and indices must increase"
                    )
            if block:
                ok = self._cond.wait_for(lambda: self._closed or not self._slot_held(slot), timeout)
                if self._closed:
                    raise BufferClosed("ring buffer is closed")
                if not ok:
                    return False
            self._frames[slot] = frame
            self._timestamps[slot] = timestamp
            self._indices[slot] = index
            self._arrivals[slot] = time.monotonic() if arrival is None else arrival
            self._written += 1
            self._cond.notify_all()
        return True

    def _slot_held(self, slot: int) -> bool:
        """True when overwriting `slot` would destroy a frame a reader still holds (offline backpressure)."""
        if self._hold is None or self._written < self.capacity:
            return False
        return bool(self._timestamps[slot] >= self._hold)

    def hold_from(self, timestamp: float | None) -> None:
        """Blocking writes must keep frames stamped at or after `timestamp` (-inf: keep all; None: hold nothing)."""
        with self._cond:
            self._hold = timestamp
            self._cond.notify_all()

    # --- readers ----------------------------------------------------------------------------------------------
    def _order(self) -> np.ndarray:
        """Slots of the buffered frames, oldest first: (n,)."""
        n = min(self._written, self.capacity)
        return (self._written - n + np.arange(n)) % self.capacity

    def take(self, select: Callable[[np.ndarray], np.ndarray]) -> FrameWindow | None:
        """Copy out the frames chosen by `select(timestamps)`, atomically.

        `select` gets the buffered timestamps (oldest first, (n,) float64) and returns positions into them
        (sorted, unique); it runs under the lock, so it must be quick and pure. None when the buffer is empty.
        """
        with self._cond:
            order = self._order()
            if len(order) == 0:
                return None
            positions = np.asarray(select(self._timestamps[order]), dtype=np.int64)
            slots = order[positions]
            return FrameWindow(
                frames=self._frames[slots],  # fancy indexing copies: (k, H, W, 3)
                timestamps=self._timestamps[slots].copy(),
                indices=self._indices[slots].copy(),
                arrivals=self._arrivals[slots].copy(),
            )

    def newest(self, n: int) -> FrameWindow | None:
        """The newest `n` frames (fewer if fewer are buffered), oldest first; None when empty."""
        if n < 1:
            raise ConfigError(f"ask for at least one frame, got {n}")
        return self.take(lambda ts: np.arange(max(0, len(ts) - n), len(ts)))

    def last_seconds(self, seconds: float) -> FrameWindow | None:
        """The frames stamped within `seconds` of the newest one (inclusive), oldest first; None when empty."""
        if seconds < 0:
            raise ConfigError(f"ask for a non-negative duration, got {seconds}")
        return self.take(lambda ts: np.flatnonzero(ts >= ts[-1] - seconds - 1e-9))

    def timestamps(self) -> np.ndarray:
        """A copy of the buffered timestamps, oldest first: (n,)."""
        with self._cond:
            return self._timestamps[self._order()].copy()

    def stamps(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the buffered (timestamps, indices), oldest first, without touching the frames."""
        with self._cond:
            order = self._order()
            return self._timestamps[order].copy(), self._indices[order].copy()

    def wait_for_frame(self, after: int, timeout: float | None = None) -> int:
        """Block until more than `after` frames were ever written (or closed, or timeout); returns the count."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._written > after, timeout)
            return self._written

    @property
    def written(self) -> int:
        """Frames ever written (the running count; the newest frame is number written - 1)."""
        with self._cond:
            return self._written

    def __len__(self) -> int:
        with self._cond:
            return min(self._written, self.capacity)

    def span(self) -> tuple[float, float] | None:
        """(oldest, newest) buffered timestamps, None when empty."""
        with self._cond:
            if not self._written:
                return None
            order = self._order()
            return float(self._timestamps[order[0]]), float(self._timestamps[order[-1]])

    # --- lifetime ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Wake every waiter; later writes raise BufferClosed. Reads still return what is buffered."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed
