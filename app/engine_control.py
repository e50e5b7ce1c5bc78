"""The window's side of the live session: wishes in, what happened out, as Qt signals.

What runs (source, model, per-person path, settings) is owned by a Qt-free `LiveSession`
(slowfast_core.stream.session): it decides start or switch on its own control thread ("engine-control"), where
a camera may take a second to open, so the window never waits and never reads `engine.running`. The
`EngineController` is its thin Qt view: the `request*` signals are wishes handed to the session at once, and
what the session reports (on its thread, or the worker's) is re-emitted as signals, which Qt queues to the
receivers on the GUI thread, as `app.bridge` does for engine events. Models are loaded by the one loading API
(`slowfast_core.weights.api.load_ready`: a request in, a `ReadyModel` or a one-line error out).

A model's metadata is never changed: an input size chosen in the window is a `Preprocessing` carried next to
the model (`ReadyModel.preprocessing`, `input_preprocessing`) and handed to the engine, which sizes its buffer
and feeds the model with it. The same network object runs at any input size: nothing is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from slowfast_core.stream.engine import Engine
from slowfast_core.stream.session import LiveSession
from slowfast_core.video.source_text import parse_source
from slowfast_core.video.sources import FrameSource
from slowfast_core.weights.api import ReadyModel


@dataclass(frozen=True)
class DetectionRequest:
    """Who is doing what, as asked for in the window: the detection model (weights or a preset with random
    weights), the person detector (a torchvision name, None for the default, or scene:N), the action threshold."""

    weights: str | None = None
    arch: str | None = "slowfast_tiny_detection"
    detector: str | None = None
    threshold: float = 0.5
    device: str | None = None

    @property
    def title(self) -> str:
        """'slowfast_tiny_detection · untrained + scene:3': what the status bar names while detecting."""
        model = self.weights or f"{self.arch or 'slowfast_r50_detection'} · untrained"
        return f"{model} + {self.detector or 'person detector'}"


class EngineController(QObject):
    """The Qt view of the window's `LiveSession` (`session`); create it on the GUI thread.

    Wishes (signals, or the session's methods): `requestOpen(spec)` open the start-up source while the model
    loads; `requestSource(spec)`; `requestModel(ready)`; `requestHead(ready)` a taught model on the running
    backbone (only its classifier is swapped); `requestStart(spec, ready)` both at once; `requestPeople(request
    | None)` a `DetectionRequest` or the whole frame. Whether that is a start or a switch is the session's call.

    Reports (queued to the GUI thread): `started(source_name, spec)`, `sourceSwitched(source_name, spec)`,
    `modelSwitched(ready)` once the engine's worker runs the new model or head (not when it was asked: a switch
    that fails is the engine's error, one that a later request replaced is never reported),
    `peopleSwitched(request | None)` once the engine runs the per-person path (or the whole frame again),
    `failed(kind, message)` with kind "start" | "source" | "model" | "detect".
    """

    started = Signal(str, str)
    sourceSwitched = Signal(str, str)
    modelSwitched = Signal(object)
    failed = Signal(str, str)
    peopleSwitched = Signal(object)  # the DetectionRequest the engine runs now, or None (the whole frame)

    # wishes from the GUI thread (handed to the session at once)
    requestStart = Signal(str, object)  # (source spec, ReadyModel)
    requestOpen = Signal(str)
    requestSource = Signal(str)
    requestModel = Signal(object)
    requestHead = Signal(object)
    requestPeople = Signal(object)

    def __init__(self, engine: Engine, *, loop_files: bool = True) -> None:
        super().__init__()
        self.engine = engine
        self.loop_files = loop_files
        self.session = LiveSession(engine, listener=self, make_source=lambda spec: self.make_source(spec),
                                   build_people=build_people, name="engine-control")
        self.requestStart.connect(self.session.want)
        self.requestOpen.connect(self.session.open_ahead)
        self.requestSource.connect(self.session.want_source)
        self.requestModel.connect(self.session.want_model)
        self.requestHead.connect(lambda ready: self.session.want_model(ready, head_only=True))
        self.requestPeople.connect(self.session.want_people)

    @property
    def source(self) -> FrameSource | None:
        """The source running now (read-only for the GUI and tests)."""
        return self.session.source

    def make_source(self, spec: str) -> FrameSource:
        """The source for `spec` (files loop, like a demo; sessions record them from wherever they are)."""
        return parse_source(spec, realtime=True, loop=self.loop_files)

    # --- the session's reports (on its thread): re-emitted, queued to the GUI thread --------------------------
    def on_started(self, name: str, spec: str) -> None:
        self.started.emit(name, spec)

    def on_source_switched(self, name: str, spec: str) -> None:
        self.sourceSwitched.emit(name, spec)

    def on_model_switched(self, ready: ReadyModel) -> None:
        self.modelSwitched.emit(ready)

    def on_people_switched(self, request: DetectionRequest | None) -> None:
        self.peopleSwitched.emit(request)

    def on_failed(self, kind: str, message: str) -> None:
        self.failed.emit(kind, message)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Take no more wishes and wait for the one in flight (bounded); True when the control thread ended.
        Call before `engine.stop()`: whoever sends requests stops first (app.shutdown)."""
        return self.session.close(timeout_ms / 1000)

    def wait(self, timeout_ms: int | None = None) -> bool:
        """Wait again for the control thread after `shutdown` (None: as long as it takes); True when it ended."""
        return self.session.join(None if timeout_ms is None else timeout_ms / 1000)

    @property
    def alive(self) -> bool:
        """True while the control thread runs."""
        return self.session.alive


def build_people(request: DetectionRequest):  # noqa: ANN201 - a detect.people.PeopleStep
    """The per-person step for `request` (loading the detection model takes a moment: the session's thread)."""
    from slowfast_core.commands.predict_detect import people_step

    return people_step(request.weights, request.arch, request.detector, threshold=request.threshold,
                       device=request.device)
