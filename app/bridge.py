"""The thin glue between the engine's threads and the Qt GUI thread.

The engine calls its listeners on its own threads; Qt widgets may only be touched on the GUI thread. An
`EngineBridge` is an engine listener that only stores values and emits signals: signals emitted from a
foreign thread to a QObject living in the GUI thread are delivered queued, in the GUI thread's event loop.

Frames arrive at the source rate and the GUI may be slower, so frames are never queued: the bridge keeps
only the newest one under a lock and emits `frameAvailable` only when no earlier notice is still pending.
Predictions, status snapshots and errors are rare (a few per second) and are forwarded one by one.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction


class EngineBridge(QObject):
    """An `EngineListener` that turns engine events into queued Qt signals; create it on the GUI thread."""

    frameAvailable = Signal()  # a newer frame waits in `take_frame()`
    predictionReady = Signal(object)  # Prediction
    statusChanged = Signal(object)  # EngineStatus
    errorRaised = Signal(object)  # EngineError

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._frame: FramePacket | None = None
        self._pending = False
        self._closed = False
        self.frames_seen = 0  # every frame the engine delivered (the GUI shows only some of them)

    # --- engine side (any thread): store and notify, never block -------------------------------------------
    def on_frame(self, frame: FramePacket) -> None:
        """Keep `frame` as the newest; notify the GUI unless a notice is already on its way."""
        with self._lock:
            if self._closed:
                return
            self._frame = frame
            self.frames_seen += 1
            notify = not self._pending
            self._pending = True
        if notify:
            self.frameAvailable.emit()

    def on_prediction(self, prediction: Prediction) -> None:
        """Forward a prediction to the GUI thread."""
        if not self._closed:
            self.predictionReady.emit(prediction)

    def on_status(self, status: EngineStatus) -> None:
        """Forward a status snapshot to the GUI thread."""
        if not self._closed:
            self.statusChanged.emit(status)

    def on_error(self, error: EngineError) -> None:
        """Forward an engine error to the GUI thread (shown in the message bar)."""
        if not self._closed:
            self.errorRaised.emit(error)

    # --- GUI side ---------------------------------------------------------------------------------------------
    def take_frame(self) -> FramePacket | None:
        """The newest frame (None if none since the last call); re-arms the `frameAvailable` notice."""
        with self._lock:
            frame, self._frame = self._frame, None
            self._pending = False
        return frame

    def close(self) -> None:
        """Stop forwarding anything (the window is going away; late engine events are dropped)."""
        with self._lock:
            self._closed = True
            self._frame = None
