"""Engine control off the GUI thread, and model loading.

`Engine.start` and `Engine.switch_source` open the source (a camera can take a second) and join the old
source's threads; `EngineController` runs them in its own QThread (a Qt worker: QObject + moveToThread), so
the window never waits. It reports back with queued signals. `load_model` is the background function that
turns a model request into a ready `SlowFast` (or a one-line error).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from slowfast_core.errors import SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.stream.engine import Engine
from slowfast_core.video.sources import FrameSource, parse_source

from app.state import ModelInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRequest:
    """Which model to load. weights: registry name, checkpoint path, or "" for untrained (random) weights.

    explicit: the user asked for exactly this (a failure keeps the current model and shows the error);
    otherwise (start-up) a failure falls back to untrained weights with a notice saying how to fix it.
    """

    arch: str
    weights: str = ""
    input_size: int = 0
    explicit: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """A ready model, what to show about it, and why it is not the one asked for (None when it is)."""

    model: SlowFast
    info: ModelInfo
    request: ModelRequest
    notice: str | None = None


def with_input_size(model: SlowFast, input_size: int) -> SlowFast:
    """`model` with its input short side set to `input_size` (0: unchanged). Never mutates a running model."""
    if not input_size or model.meta.preprocessing.short_side == input_size:
        return model
    prep = dataclasses.replace(model.meta.preprocessing, short_side=int(input_size))
    model.meta = dataclasses.replace(model.meta, preprocessing=prep)
    return model


def model_info(model: SlowFast, weights_label: str) -> ModelInfo:
    """What the window shows about `model`."""
    return ModelInfo(
        arch=model.config.name, weights=weights_label if model.meta.trained else "", trained=model.meta.trained,
        num_classes=len(model.meta.categories), input_size=model.meta.preprocessing.short_side,
    )


def load_model(request: ModelRequest) -> LoadedModel:
    """Build the requested model (slow: seconds). Runs on a worker thread."""
    from slowfast_core import create_model
    from slowfast_core.weights.checkpoint import load_weights
    from slowfast_core.weights.registry import resolve_weights

    notice = None
    model: SlowFast | None = None
    label = ""
    if request.weights:
        try:
            resolved = resolve_weights(request.weights, download=False)  # raises when not downloaded
            spec = resolved.entry.name if resolved.entry is not None else str(resolved.path)
            model = load_weights(spec)
            label = resolved.entry.name if resolved.entry is not None else resolved.path.name
        except SlowFastError as exc:
            if request.explicit:
                raise
            notice = str(exc)
    if model is None:  # untrained: the fixed seed makes every start reuse one converted model
        from slowfast_core.model.builder import UNTRAINED_SEED

        model = create_model(request.arch, seed=UNTRAINED_SEED)
    model = with_input_size(model, request.input_size)
    return LoadedModel(model=model, info=model_info(model, label), request=request, notice=notice)


def resized_copy(model: SlowFast, input_size: int) -> SlowFast:
    """A copy of `model` with another input size (the running one keeps its buffer geometry until switched)."""
    clone = copy.deepcopy(model)
    return with_input_size(clone, input_size)


class EngineController(QObject):
    """Starts, switches and restarts the engine on its own thread; lives in `thread`.

    Signals (queued to the GUI thread): `started(source_name, spec)`, `sourceSwitched(source_name, spec)`,
    `failed(kind, message)` with kind "start" | "source" | "model".
    """

    started = Signal(str, str)
    sourceSwitched = Signal(str, str)
    modelSwitched = Signal(object)
    failed = Signal(str, str)

    # requests from the GUI thread (queued into the controller's thread)
    requestStart = Signal(str, object)
    requestOpen = Signal(str)
    requestSource = Signal(str)
    requestModel = Signal(object)
    requestHead = Signal(object)  # a taught model on the running backbone: only its classifier is swapped

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

    @Slot(str, object)
    def _start(self, spec: str, model: SlowFast) -> None:
        try:
            source = self._take_opened(spec)
            try:
                if self.engine.running:
                    self.engine.switch_source(source)
                    self.engine.switch_model(model)
                else:
                    self.engine.start(source, model)
            except BaseException:
                if source is not self.source and source.info is not None:
                    source.close()  # opened ahead: the engine did not take it
                raise
            self.source = source
        except SlowFastError as exc:
            self.failed.emit("start", str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the window, never a crash
            log.exception("engine start failed")
            self.failed.emit("start", f"could not start: {type(exc).__name__}: {exc}")
            return
        self.started.emit(source.name, spec)

    @Slot(str)
    def _switch_source(self, spec: str) -> None:
        try:
            source = self.make_source(spec)
            self.engine.switch_source(source)
            self.source = source
        except SlowFastError as exc:
            self.failed.emit("source", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("source switch failed")
            self.failed.emit("source", f"could not open {spec}: {type(exc).__name__}: {exc}")
            return
        self.sourceSwitched.emit(source.name, spec)

    @Slot(object)
    def _switch_model(self, loaded: LoadedModel) -> None:
        try:
            self.engine.switch_model(loaded.model)
        except SlowFastError as exc:
            self.failed.emit("model", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("model switch failed")
            self.failed.emit("model", f"could not switch the model: {type(exc).__name__}: {exc}")
            return
        self.modelSwitched.emit(loaded)

    @Slot(object)
    def _swap_head(self, loaded: LoadedModel) -> None:
        try:
            self.engine.swap_head(loaded.model)
        except SlowFastError as exc:
            self.failed.emit("model", str(exc))
            return
        self.modelSwitched.emit(loaded)

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Quit the control thread and wait for it (bounded). Call after `engine.stop()`."""
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        opened, self._opened = self._opened, None
        if opened is not None and not isinstance(opened[1], Exception) and opened[1] is not self.source:
            opened[1].close()  # opened ahead, never started (closed before the model was ready)
        return ok
