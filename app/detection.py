"""The window's Detection toggle: who is doing what (per-person boxes and actions) instead of the whole frame.

`DetectionController` turns the toggle into a wish to the engine controller (`requestPeople`: a
`DetectionRequest`, or None for the whole frame again); the controller builds the per-person step (detection
model + person detector + tracker) on its own thread and reports `peopleSwitched` once the engine runs it, or
`failed("detect", line)`. The live session keeps the wish: made before the engine runs, it is applied when it
starts (and again after every start, since a fresh engine starts on the whole frame). The view and the status
bar read the people from each prediction (`Prediction.people`), so they follow what the engine actually ran, not what was asked.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from app.engine_control import DetectionRequest, EngineController
from app.notices import NoticeModel
from slowfast_core.stream.engine import Engine


class DetectionController(QObject):
    """Holds the wish (on/off, which detector) and what runs; `changed` when the engine switched paths."""

    changed = Signal()

    def __init__(self, control: EngineController, engine: Engine, notices: NoticeModel, *,
                 request: DetectionRequest | None = None, enabled: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.engine = engine
        self.notices = notices
        self.request = request or DetectionRequest()
        self.wanted = enabled
        self.active: DetectionRequest | None = None  # what the engine runs now (None: the whole frame)
        self.closing = False
        control.peopleSwitched.connect(self._on_switched)
        control.failed.connect(self._on_failed)
        if self.wanted:  # on from the start (--detect): the session applies it once the engine runs
            control.requestPeople.emit(self.request)

    def set_enabled(self, on: bool) -> None:
        """Ask for the per-person path (on) or the whole frame (off): a wish the session applies now if the
        engine runs, else once it starts."""
        self.wanted = bool(on)
        self.control.requestPeople.emit(self.request if self.wanted else None)

    def use(self, request: DetectionRequest) -> None:
        """Another detector or detection model; applied at once when detection is on."""
        self.request = request
        if self.wanted:
            self.set_enabled(True)

    @Slot(object)
    def _on_switched(self, request: DetectionRequest | None) -> None:
        self.active = request
        self.notices.dismiss("detect")
        self.changed.emit()

    @Slot(str, str)
    def _on_failed(self, kind: str, message: str) -> None:
        if kind != "detect" or self.closing:
            return
        self.wanted = self.active is not None
        self.notices.post("detect", message, "error")
        self.changed.emit()
