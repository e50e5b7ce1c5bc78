"""The capture thread: reads a source, stamps and preprocesses each frame once, writes it into the ring buffer.

Per frame: a monotonic timestamp (or the file's media time in offline mode) and a running index; BGR->RGB and
the resize to the model's short side (`prepare_frame`, the only resize a frame ever gets); a write into the
ring buffer; and the full-resolution RGB frame handed to `on_frame` for display and recording.

It counts frames read, dropped (skipped by a paced source because we were behind, or missing from a camera's
timeline) and late. A source that fails is reported and reopened with exponential back-off; one that stops
delivering without failing is noticed by `check_stall()` (called by the engine's monitor); the end of a file
is an event (`on_state("ended")`), not an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2

from slowfast_core.errors import SlowFastError, SourceError
from slowfast_core.stream.types import EngineError, FramePacket, SourceState
from slowfast_core.video.preprocess import resize_short_side, short_side_size
from slowfast_core.stream.ringbuffer import BufferClosed, RingBuffer
from slowfast_core.video.sources import FrameSource, SourceFrame

logger = logging.getLogger(__name__)

Clock = Literal["monotonic", "media"]


@dataclass(frozen=True)
class CaptureStats:
    """Counters since the capture thread started."""

    frames_read: int
    frames_dropped: int
    frames_late: int
    fps: float  # measured over the last couple of seconds
    state: SourceState
    first_arrival: float | None
    last_arrival: float | None


class CaptureThread(threading.Thread):
    """Reads `source` until stopped or the end of the file; the source must already be open.

    clock="monotonic": frames are stamped with time.monotonic() at capture (live sources);
    clock="media": with the source's media time (offline files, so windows match `slowfast predict`), and
    writes block while the buffer's readers still hold the frame they would overwrite (nothing is lost).
    """

    def __init__(self, source: FrameSource, *, buffer: RingBuffer, short_side: int, clock: Clock = "monotonic",
                 on_frame: Callable[[FramePacket], None] | None = None,
                 on_state: Callable[[SourceState, str], None] | None = None,
                 on_error: Callable[[EngineError], None] | None = None,
                 stall_timeout: float | None = None, backoff: tuple[float, float] = (0.25, 4.0)) -> None:
        super().__init__(name="slowfast-capture", daemon=False)
        if source.info is None:
            raise SourceError(f"{source.name} must be opened before capture starts")
        self.source = source
        self.buffer = buffer
        self.short_side = short_side
        self.clock = clock
        self._on_frame = on_frame or (lambda packet: None)
        self._on_state = on_state or (lambda state, message: None)
        self._on_error = on_error or (lambda error: None)
        fps = source.info.fps
        self.fps = fps
        self.stall_timeout = stall_timeout if stall_timeout is not None else max(1.0, 8.0 / fps)
        self.backoff = backoff
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._read = self._dropped = self._late = 0
        self._arrivals: deque[float] = deque(maxlen=max(8, int(2 * fps)))
        self._last_arrival: float | None = None
        self._first_arrival: float | None = None
        self._state: SourceState = "running"
        self._next_index = 0

    # --- control ----------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the thread to finish: it returns from a pending read promptly (cameras: within a frame)."""
        self._stop_event.set()
        self.source.interrupt()

    def retarget(self, buffer: RingBuffer, short_side: int) -> None:
        """Write into another buffer at another size from the next frame on (the model changed)."""
        with self._lock:
            self.buffer, self.short_side = buffer, short_side

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def stats(self) -> CaptureStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            fps = 0.0
            if len(self._arrivals) >= 2 and self._arrivals[-1] > self._arrivals[0]:
                fps = (len(self._arrivals) - 1) / (self._arrivals[-1] - self._arrivals[0])
            if self._last_arrival is not None and time.monotonic() - self._last_arrival > self.stall_timeout:
                fps = 0.0
            return CaptureStats(self._read, self._dropped, self._late, fps, self._state, self._first_arrival,
                                self._last_arrival)

    @property
    def state(self) -> SourceState:
        with self._lock:
            return self._state

    def _set_state(self, state: SourceState, message: str = "") -> None:
        with self._lock:
            changed = state != self._state
            self._state = state
        if changed or message:
            self._on_state(state, message)

    def check_stall(self, now: float | None = None) -> bool:
        """Called periodically by the engine: report a source that stopped delivering (no error, no frames)."""
        if not self.source.live:
            return False  # an unpaced file waits for its readers; that is not a stall
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last_arrival
            running = self._state == "running"
        if running and last is not None and now - last > self.stall_timeout:
            seconds = now - last
            self._set_state("stalled", f"{self.source.name} delivered no frame for {seconds:.1f} s; waiting for it")
            self._on_error(EngineError("capture", f"{self.source.name} stopped delivering frames "
                                                  f"({seconds:.1f} s without one); waiting for it to come back"))
            return True
        return False

    # --- thread -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except BufferClosed:
            pass
        except BaseException as exc:  # report everything: a dying capture thread must not be silent
            logger.debug("capture thread failed", exc_info=True)
            message = str(exc) if isinstance(exc, SlowFastError) else f"capture failed: {type(exc).__name__}: {exc}"
            self._set_state("failed", message)
            self._on_error(EngineError("capture", message, fatal=True, exception=exc))
        finally:
            self.source.close()
            if self._stop_event.is_set() and self.state not in ("ended", "failed"):
                self._set_state("stopped")

    def _loop(self) -> None:
        while not self._stop_event.is_set():
            try:
                frame = self.source.read()
            except SourceError as exc:
                if self._stop_event.is_set():
                    return
                self._on_error(EngineError("capture", f"{exc}; reopening", exception=exc))
                if not self._reopen():
                    return
                continue
            if frame is None:
                if not self._stop_event.is_set():
                    self._set_state("ended", f"{self.source.name}: end of stream")
                return
            self._handle(frame, time.monotonic())

    def _reopen(self) -> bool:
        """Close and reopen the source with exponential back-off until it opens or we are stopped."""
        delay, limit = self.backoff
        attempt = 0
        with self._lock:
            self._last_arrival = None
        while not self._stop_event.is_set():
            attempt += 1
            self._set_state("reopening", f"reopening {self.source.name} in {delay:.2f} s (attempt {attempt})")
            self.source.close()
            if self._stop_event.wait(delay):
                return False
            try:
                info = self.source.open()
            except SourceError as exc:
                logger.info("reopen attempt %d of %s failed: %s", attempt, self.source.name, exc)
                delay = min(delay * 2, limit)
                continue
            if self._stop_event.is_set():
                return False
            with self._lock:
                buffer, short_side = self.buffer, self.short_side
            if buffer_shape(info.width, info.height, short_side) != buffer.frame_shape:
                raise SourceError(f"{self.source.name} came back at {info.width}x{info.height}, another size "
                                  "than before: start it again")
            self._set_state("running", f"{self.source.name} reopened ({info.width}x{info.height})")
            if info.fps != self.fps:
                logger.info("%s came back at %g fps (was %g)", self.source.name, info.fps, self.fps)
            return True
        return False

    def _count(self, frame: SourceFrame, arrival: float) -> None:
        """Update read/dropped/late counters for one frame (under the lock)."""
        period = 1.0 / self.fps
        self._read += 1
        self._dropped += frame.skipped
        if frame.due is not None:
            if arrival - frame.due > 0.5 * period:
                self._late += 1
        elif self._last_arrival is not None and self.source.live:
            gap = arrival - self._last_arrival
            if gap > 1.5 * period:
                self._late += 1
                self._dropped += max(0, int(round(gap / period)) - 1)
        self._last_arrival = arrival
        if self._first_arrival is None:
            self._first_arrival = arrival
        self._arrivals.append(arrival)

    def _handle(self, frame: SourceFrame, arrival: float) -> None:
        """Stamp, preprocess once, store, publish."""
        with self._lock:
            was_stalled = self._state == "stalled"
            self._count(frame, arrival)
            index = self._next_index
            self._next_index += 1
        if was_stalled:
            self._set_state("running", f"{self.source.name} delivers frames again")
        if self.clock == "media" and frame.media_time is not None:
            timestamp = frame.media_time
        else:
            timestamp = arrival
        with self._lock:
            buffer, short_side = self.buffer, self.short_side
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)  # (H, W, 3): the frame's one colour conversion
        small = resize_short_side(rgb, short_side)  # (h, w, 3) RGB uint8, short side = model's
        blocking = self.clock == "media"
        try:
            while not buffer.write(small, timestamp=timestamp, index=index, arrival=arrival,
                                   block=blocking, timeout=0.1):
                if self._stop_event.is_set():
                    return
        except BufferClosed:
            with self._lock:
                retargeted = self.buffer is not buffer
            if not retargeted:
                raise
            # the model changed while this frame was prepared for the old one: it only misses the buffer
        self._on_frame(FramePacket(index=index, timestamp=timestamp, image=rgb, source_fps=self.fps,
                                   bgr=frame.image))  # full resolution, for people and the session video


def buffer_shape(width: int, height: int, short_side: int) -> tuple[int, int, int]:
    """(h, w, 3) of a frame of `width` x `height` after `prepare_frame` to `short_side`."""
    h, w = short_side_size(height, width, short_side)
    return h, w, 3
