"""One source's chain: ring buffer -> capture thread -> window scheduler, built and resized in one place.

`Chain.build` opens nothing: the source must be open. It sizes the ring buffer for the model's clip
geometry and input short side (`ring_buffer_for`, the one sizing rule), creates the capture thread and the
scheduler (not started), and feeds the engine's shared latest-only slot. `Chain.resize` moves a running
chain to another geometry or short side (a model switch) through the same sizing rule. `Chain.retire`
stops and joins the chain's threads (bounded) and keeps its counters for the engine's totals.

The chain's threads report through one `ChainEvents` (the engine); each chain has its own identity, so
the last words of a retired chain are recognised and ignored.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from slowfast_core.spec import ClipGeometry
from slowfast_core.stream.scheduler import WindowScheduler
from slowfast_core.stream.types import EngineError, FramePacket, SourceState
from slowfast_core.stream.worker import LatestSlot
from slowfast_core.stream.capture import CaptureThread, buffer_shape
from slowfast_core.stream.ringbuffer import RingBuffer
from slowfast_core.video.sources import FrameSource, SourceInfo


class ChainEvents(Protocol):
    """What a chain's threads report (on those threads)."""

    def on_frame(self, frame: FramePacket) -> None: ...

    def on_source_state(self, chain: "Chain", state: SourceState, message: str) -> None: ...

    def on_error(self, error: EngineError) -> None: ...


@dataclass(frozen=True)
class ChainOptions:
    """The engine settings a chain is built from. offline: every window, media clock (an unpaced file run)."""

    stride_s: float
    stride_frames: int | None
    buffer_margin_s: float
    stall_timeout_s: float | None
    reopen_backoff_s: tuple[float, float]
    offline: bool
    partial_windows: bool = True


def ring_buffer_for(info: SourceInfo, geometry: ClipGeometry, short_side: int, margin_s: float) -> RingBuffer:
    """A ring buffer holding one window of `geometry` (plus `margin_s`) of `info`'s frames resized to
    `short_side`: the one sizing rule, at start and at every model switch."""
    capacity = RingBuffer.capacity_for(fps=info.fps, window_seconds=geometry.window_seconds, margin_seconds=margin_s)
    return RingBuffer(capacity=capacity, frame_shape=buffer_shape(info.width, info.height, short_side))


@dataclass(frozen=True)
class RetiredCounts:
    """A retired chain's counters, summed into the engine's status."""

    frames_read: int
    frames_dropped: int
    frames_late: int
    windows_cut: int
    windows_stale: int


class Chain:
    """A source with its buffer, capture thread and scheduler (see module doc)."""

    def __init__(self, source: FrameSource, *, geometry: ClipGeometry, short_side: int, slot: LatestSlot,
                 generation: int, options: ChainOptions, events: ChainEvents) -> None:
        info = source.info
        if info is None:
            raise ValueError(f"{source.name} must be opened before its chain is built")
        self.source, self.info, self.offline = source, info, options.offline
        self.options = options
        self.geometry, self.short_side, self.generation = geometry, short_side, generation
        self.buffer = ring_buffer_for(info, geometry, short_side, options.buffer_margin_s)
        self.capture = CaptureThread(
            source, buffer=self.buffer, short_side=short_side, clock="media" if options.offline else "monotonic",
            on_frame=events.on_frame, on_state=lambda state, msg: events.on_source_state(self, state, msg),
            on_error=events.on_error, stall_timeout=options.stall_timeout_s, backoff=options.reopen_backoff_s,
        )
        self.scheduler = WindowScheduler(
            buffer=self.buffer, geometry=geometry, slot=slot, fps=info.fps, stride_s=options.stride_s,
            stride_frames=options.stride_frames, mode="every" if options.offline else "latest",
            generation=generation, partial=options.partial_windows and not options.offline, on_error=events.on_error,
        )
        self.retired = False

    def start(self) -> None:
        self.scheduler.start()
        self.capture.start()

    def fits(self, geometry: ClipGeometry, short_side: int) -> bool:
        """True when the buffer already holds frames for a model of this geometry and input size."""
        return (geometry, short_side) == (self.geometry, self.short_side)

    def resize(self, geometry: ClipGeometry, short_side: int, generation: int) -> None:
        """Move the running chain to a new buffer for `geometry` at `short_side`; windows get `generation`."""
        buffer = ring_buffer_for(self.info, geometry, short_side, self.options.buffer_margin_s)
        old = self.buffer
        self.capture.retarget(buffer, short_side)
        self.scheduler.retarget(buffer, geometry, generation)
        self.buffer, self.geometry, self.short_side, self.generation = buffer, geometry, short_side, generation
        old.close()

    def retire(self, timeout: float) -> list[threading.Thread]:
        """Stop the chain's threads and join them within `timeout` s; returns those still alive."""
        self.capture.stop()
        self.scheduler.stop()
        self.buffer.close()
        deadline = time.monotonic() + timeout
        for thread in (self.capture, self.scheduler):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self.retired = True
        return [t for t in (self.capture, self.scheduler) if t.is_alive()]

    def counts(self) -> RetiredCounts:
        stats = self.capture.stats()
        return RetiredCounts(stats.frames_read, stats.frames_dropped, stats.frames_late,
                             self.scheduler.windows_cut, self.scheduler.windows_stale)
