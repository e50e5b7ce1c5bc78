"""Engine control off the GUI thread, and model loading.

`Engine.start` and `Engine.switch_source` open the source (a camera can take a second) and join the old
source's threads; `EngineController` runs them in its own QThread (a Qt worker: QObject + moveToThread), so
the window never waits. It reports back with queued signals. Models are loaded by the one loading API
(`slowfast_core.weights.api.load_ready`: a request in, a `ReadyModel` or a one-line error out).

A model's metadata is never changed: an input size chosen in the window is a `Preprocessing` carried next to
the model (`ReadyModel.preprocessing`, `input_preprocessing`) and handed to the engine, which sizes its buffer
and feeds the model with it. The same network object runs at any input size: nothing is copied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from slowfast_core.errors import SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing
from slowfast_core.stream.engine import Engine
from slowfast_core.video.source_text import parse_source
from slowfast_core.video.sources import FrameSource
from slowfast_core.weights.api import ReadyModel

logger = logging.getLogger(__name__)


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
    """Starts, switches and restarts the engine on its own thread; lives in `thread`.

    Signals (queued to the GUI thread): `started(source_name, spec)`, `sourceSwitched(source_name, spec)`,
    `modelSwitched(ready)` once the engine's worker runs the new model or head (not when it was asked: a switch
    that fails is the engine's error, one that a later request replaced is never reported),
    `peopleSwitched(request | None)` once the engine runs the per-person path (or the whole frame again),
    `failed(kind, message)` with kind "start" | "source" | "model" | "detect".
    """

    started = Signal(str, str)
    sourceSwitched = Signal(str, str)
    modelSwitched = Signal(object)
    failed = Signal(str, str)

    # requests from the GUI thread (queued into the controller's thread)
    requestStart = Signal(str, object)  # (source spec, ReadyModel)
    requestOpen = Signal(str)
    requestSource = Signal(str)
    requestModel = Signal(object)
    requestHead = Signal(object)  # a taught model on the running backbone: only its classifier is swapped
    requestPeople = Signal(object)  # a DetectionRequest (who is doing what) or None (back to the whole frame)
    peopleSwitched = Signal(object)  # the DetectionRequest the engine runs now, or None (the whole frame)

    def __init__(self, engine: Engine, *, loop_files: bool = True) -> None:
        super().__init__()
        self.engine = engine
        self.loop_files = loop_files
        self.source: FrameSource | None = None  # the source running now (read-only for the GUI and tests)
        self._opened: tuple[str, FrameSource | Exception] | None = None  # opened ahead by requestOpen
        self.thread = QThread()
        self.thread.setObjectName("engine-control")
        self.moveToThread(self.thread)
        self.requestStart.connect(self._start)
        self.requestOpen.connect(self._open_ahead)
        self.requestSource.connect(self._switch_source)
        self.requestModel.connect(self._switch_model)
        self.requestHead.connect(self._swap_head)
        self.requestPeople.connect(self._switch_people)
        self.thread.start()

    def make_source(self, spec: str) -> FrameSource:
        """The source for `spec` (files loop, like a demo; sessions record them from wherever they are)."""
        return parse_source(spec, realtime=True, loop=self.loop_files)

    @Slot(str)
    def _open_ahead(self, spec: str) -> None:
        """Open the start-up source while the model loads (a camera takes up to a second to open): the engine
        then starts on it at once. A failure is kept and reported by the start."""
        try:
            source = self.make_source(spec)
            source.open()
            self._opened = (spec, source)
        except Exception as exc:  # noqa: BLE001 - raised again by _start, where failures are reported
            self._opened = (spec, exc)

    def _take_opened(self, spec: str) -> FrameSource:
        """The source opened ahead for `spec` (or its failure, raised), else a new one; closes a stale one."""
        opened, self._opened = self._opened, None
        if opened is not None and opened[0] == spec:
            if isinstance(opened[1], Exception):
                raise opened[1]
            return opened[1]
        if opened is not None and not isinstance(opened[1], Exception):
            opened[1].close()
        return self.make_source(spec)

    def _attempt(self, kind: str, what: str, action: Callable[[], object]) -> bool:
        """Run `action` (on this thread); a failure becomes `failed(kind, one line)`: a SlowFastError's own
        message, anything else `what: Type: message` (and its traceback in the log). True when it succeeded.
        The one error ladder of every request, so the window never sees a traceback nor a silent failure."""
        try:
            action()
            return True
        except SlowFastError as exc:
            self.failed.emit(kind, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown in the window, never a crash
            logger.exception("%s", what)
            self.failed.emit(kind, f"{what}: {type(exc).__name__}: {exc}")
        return False

    @Slot(str, object)
    def _start(self, spec: str, ready: ReadyModel) -> None:
        opened: list[FrameSource] = []

        def start() -> None:
            source = self._take_opened(spec)
            try:
                if self.engine.running:
                    self.engine.switch_source(source)
                    self.engine.switch_model(ready.model, preprocessing=ready.preprocessing)
                else:
                    self.engine.start(source, ready.model, preprocessing=ready.preprocessing)
            except BaseException:
                if source is not self.source and source.info is not None:
                    source.close()  # opened ahead: the engine did not take it
                raise
            self.source = source
            opened.append(source)

        if self._attempt("start", "could not start", start):
            self.started.emit(opened[0].name, spec)

    @Slot(str)
    def _switch_source(self, spec: str) -> None:
        def switch() -> None:
            source = self.make_source(spec)
            self.engine.switch_source(source)
            self.source = source

        if self._attempt("source", f"could not open {spec}", switch) and self.source is not None:
            self.sourceSwitched.emit(self.source.name, spec)

    @Slot(object)
    def _switch_model(self, loaded: ReadyModel) -> None:
        self._attempt("model", "could not switch the model", lambda: self.engine.switch_model(
            loaded.model, preprocessing=loaded.preprocessing, applied=lambda: self.modelSwitched.emit(loaded)))

    @Slot(object)
    def _swap_head(self, loaded: ReadyModel) -> None:
        self._attempt("model", "could not use the taught model", lambda: self.engine.swap_head(
            loaded.model, applied=lambda: self.modelSwitched.emit(loaded), identity=loaded.identity))

    @Slot(object)
    def _switch_people(self, request: DetectionRequest | None) -> None:
        """Build the per-person step here (loading the detection model takes a moment) and hand it to the engine."""
        def switch() -> None:
            from slowfast_core.commands.predict_detect import people_step

            step = None if request is None else people_step(
                request.weights, request.arch, request.detector, threshold=request.threshold, device=request.device)
            self.engine.set_people(step)

        if self._attempt("detect", "could not switch detection", switch):
            self.peopleSwitched.emit(request)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Quit the control thread and wait for it (bounded). Call before `engine.stop()`: whoever sends requests stops first (app.shutdown)."""
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        opened, self._opened = self._opened, None
        if opened is not None and not isinstance(opened[1], Exception) and opened[1] is not self.source:
            opened[1].close()  # opened ahead, never started (closed before the model was ready)
        return ok
