"""What the real-time engine publishes to its subscribers (GUI, recorder, JSONL writer, metrics).

These value types are the contract between slowfast_core.stream (producer) and its consumers; the GUI
turns each event into a queued Qt signal. All are immutable and safe to hand across threads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from slowfast_core.records import PredictionRecord, TopK
from slowfast_core.video.windows import span_end


@dataclass(frozen=True)
class FramePacket:
    """One captured frame as the source delivered it (full resolution, RGB uint8), for display and recording.

    The model's copy (resized once) lives in the ring buffer; this one is for people and the session video.
    `bgr`: the source's own frame (OpenCV's BGR order), kept next to the RGB one so that the session video,
    which OpenCV encodes from BGR, needs no conversion back (None: only the RGB one is at hand).
    """

    index: int  # running index since the source was opened
    timestamp: float  # time.monotonic() seconds at capture
    image: np.ndarray  # (H, W, 3) RGB uint8, source resolution
    source_fps: float  # the rate the source claims (or the file's fps)
    bgr: np.ndarray | None = field(default=None, repr=False, compare=False)  # (H, W, 3) BGR uint8, the same pixels


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on one window. end_to_end: window's last frame captured -> prediction published."""

    waited_ms: float
    prepared_ms: float
    inferred_ms: float
    end_to_end_ms: float


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one window.

    topk holds the raw (unsmoothed) top-k; `label`/`confidence` are after smoothing and hysteresis, with
    label None meaning "no confident action". probs is the full softmax vector (num_classes,), float32.
    feature is what a taught classifier learns from; the session recorder stores it.
    """

    id: int
    start_time: float  # engine seconds of the window's first grid instant (end_time - (T*tau - 1)/30)
    end_time: float  # engine seconds of the window's last grid instant (live: the newest frame's timestamp)
    first_index: int
    last_index: int
    topk: TopK
    probs: np.ndarray
    label: str | None
    confidence: float
    timings: Timings
    backend: str = ""
    #: the window's pooled feature (the classifier's input), (C,) float32, when the backend computed it apart
    feature: np.ndarray | None = None
    #: which backbone computed `feature` (a `slowfast_core.model.identity.FeatureIdentity`), or None
    feature_identity: Any = None
    #: detecting (who is doing what): each person's track, box, actions and smoothed label; () nobody in view,
    #: None when not detecting (then topk/label are the whole frame's)
    people: tuple[Any, ...] | None = None
    #: detecting: what the person detector cost on this window's key frame (ms; the head's is inferred_ms - this)
    detector_ms: float | None = None
    #: the window was cut before the buffer covered its span (the first ~2 s after a start or a model switch):
    #: its oldest frame repeated back to start_time, as `slowfast predict` pads a short clip
    padded: bool = False

    def record(self, origin: float = 0.0) -> PredictionRecord:
        """This prediction as the one written record, times in seconds since engine time `origin`: the span
        [start_time, end_time + 1/30), as `slowfast predict` writes it."""
        return PredictionRecord(
            window=self.id, start=self.start_time - origin, end=span_end(self.end_time) - origin,
            topk=self.topk, first_frame=self.first_index, last_frame=self.last_index, label=self.label,
            confidence=self.confidence, timings=asdict(self.timings), backend=self.backend, people=self.people,
            padded=True if self.padded else None,
        )


SourceState = Literal["opening", "running", "stalled", "reopening", "ended", "stopped", "failed"]


@dataclass(frozen=True)
class EngineStatus:
    """A periodic snapshot (about once a second, and on every state change) for status bars and metrics."""

    state: SourceState
    source: str  # e.g. "synthetic 640x480@30", "file:/path/clip.mp4", "camera:0"
    width: int
    height: int
    capture_fps: float  # measured over the last seconds
    frames_read: int
    frames_dropped: int
    frames_late: int
    windows_done: int
    windows_dropped: int  # went stale while the worker was busy
    model: str
    device: str
    backend: str
    inference_ms_p50: float | None = None
    end_to_end_ms_p50: float | None = None
    message: str = ""


@dataclass(frozen=True)
class EngineError:
    """An exception in any engine thread, reported instead of dying silently. fatal: the chain stopped."""

    where: str  # "capture", "inference", "scheduler", …
    message: str  # one line for the user: what went wrong and what to do
    fatal: bool = False
    exception: BaseException | None = field(default=None, compare=False)


class EngineListener(Protocol):
    """Anything that wants engine events. Called on engine threads: must return quickly and never block."""

    def on_frame(self, frame: FramePacket) -> None: ...

    def on_prediction(self, prediction: Prediction) -> None: ...

    def on_status(self, status: EngineStatus) -> None: ...

    def on_error(self, error: EngineError) -> None: ...
