"""`LiveState`: what the live views show, as one Qt model object that they subscribe to.

The window feeds it (frames from the bridge, predictions, status snapshots, recording state); the video
view, the overlay, the timeline and the status bar read it and repaint when its signals fire. Views never
talk to the engine, so each one can be tested by changing the state and checking that the view followed.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QObject, Signal

from slowfast_core.overlay.content import stale_after
from slowfast_core.stream.types import EngineStatus, FramePacket, Prediction
from slowfast_core.weights.api import ModelInfo

HISTORY_SECONDS = 30.0  # what the live timeline shows
MAX_HISTORY = 2000  # bound on kept predictions, whatever the stride


class LiveState(QObject):
    """Newest frame, newest prediction, recent predictions, engine status, model and recording state."""

    frameChanged = Signal()
    predictionChanged = Signal()
    statusChanged = Signal()
    modelChanged = Signal()
    recordingChanged = Signal()
    sourceChanged = Signal()

    def __init__(self, parent: QObject | None = None, *, clock=time.monotonic) -> None:
        super().__init__(parent)
        self._clock = clock
        self.frame: FramePacket | None = None
        self.frames_shown = 0
        self.prediction: Prediction | None = None
        self.detection: str | None = None  # what detects people while the engine runs the per-person path
        self.history: deque[Prediction] = deque(maxlen=MAX_HISTORY)
        self.status: EngineStatus | None = None
        self.model = ModelInfo()
        self.source_label = ""
        self.origin: float | None = None  # monotonic time of the current source's first frame
        self.threshold = 0.2
        self.topk = 5
        self.stride_s = 0.5
        self.recording_name: str | None = None
        self.recording_started: float | None = None
        self.active_label: str | None = None

    # --- time -----------------------------------------------------------------------------------------------
    def now(self) -> float:
        """Monotonic seconds now (the engine stamps frames and windows with the same clock)."""
        return self._clock()

    def relative(self, t: float) -> float:
        """`t` as seconds since the current source's first frame."""
        return t - (self.origin if self.origin is not None else t)

    def stale_after(self) -> float:
        """How old a prediction may get before the overlay dims it: a few strides plus the usual latency."""
        e2e = 0.0
        if self.status is not None and self.status.end_to_end_ms_p50:
            e2e = self.status.end_to_end_ms_p50 / 1000.0
        return stale_after(self.stride_s, e2e)

    def prediction_age(self) -> float | None:
        """Seconds since the end of the newest prediction's window (None without one)."""
        if self.prediction is None:
            return None
        return max(0.0, self.now() - self.prediction.end_time)

    def is_stale(self) -> bool:
        """True when the newest prediction is older than `stale_after()` (or there is none)."""
        age = self.prediction_age()
        return age is None or age > self.stale_after()

    # --- feeding --------------------------------------------------------------------------------------------
    def set_frame(self, frame: FramePacket) -> None:
        """Show `frame` next."""
        if self.origin is None:
            self.origin = frame.timestamp
        self.frame = frame
        self.frames_shown += 1
        self.frameChanged.emit()

    def add_prediction(self, prediction: Prediction) -> None:
        """Make `prediction` the newest and append it to the timeline history (older than 30 s falls off)."""
        if self.prediction is not None and prediction.end_time < self.prediction.end_time:
            return  # an older window than the one shown: newest-only
        self.prediction = prediction
        self.history.append(prediction)
        horizon = prediction.end_time - HISTORY_SECONDS * 2
        while self.history and self.history[0].end_time < horizon:
            self.history.popleft()
        self.predictionChanged.emit()

    def set_status(self, status: EngineStatus) -> None:
        """Keep the newest engine status snapshot."""
        self.status = status
        self.statusChanged.emit()

    def set_model(self, info: ModelInfo) -> None:
        """A new model runs: forget predictions made by the old one."""
        self.model = info
        self.prediction = None
        self.history.clear()
        self.modelChanged.emit()
        self.predictionChanged.emit()

    def set_detection(self, title: str | None) -> None:
        """The per-person path runs (`title`: its detection model and detector) or not (None)."""
        self.detection = title
        self.modelChanged.emit()

    def reset_source(self, label: str) -> None:
        """A new source starts: forget its predecessor's frames, predictions and clock origin."""
        self.source_label = label
        self.frame = None
        self.origin = None
        self.prediction = None
        self.history.clear()
        self.sourceChanged.emit()
        self.predictionChanged.emit()
        self.frameChanged.emit()

    def set_options(self, *, threshold: float, topk: int, stride_s: float) -> None:
        """Display-side copies of the engine settings (the overlay needs the threshold and k)."""
        self.threshold, self.topk, self.stride_s = threshold, topk, stride_s
        self.predictionChanged.emit()

    def set_recording(self, name: str | None, *, active_label: str | None = None) -> None:
        """Recording started (name), stopped (None), or its current label changed."""
        if name is not None and self.recording_name is None:
            self.recording_started = self.now()
        if name is None:
            self.recording_started = None
            active_label = None
        self.recording_name = name
        self.active_label = active_label
        self.recordingChanged.emit()
