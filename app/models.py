"""The window's model controller: which model runs, loading the next one off the GUI thread, and handing it over.

Loading (seconds: weights from disk) runs as a `TaskRunner` task; the ready model goes to the
`EngineController` as a wish: run this model, or only its head (a taught classifier on the same backbone: no
reload, no gap in the video); whether that starts the engine or switches it is the live session's call. What
the controller reports back is followed here: a switched model is remembered in the settings, a failure is a
notice (at start-up a failed load falls back to untrained weights so the program stays usable). Auto quality
(app.quality) is told about each model and asks for other sizes through `reload_at`. The start-up backend
policy (torch-cpu first, OpenVINO when ready) is the core's (slowfast_core.backends.policy), chosen by the
engine; nothing of it lives here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.engine_control import EngineController
from app.notices import Action, NoticeModel
from app.quality import QualityController
from app.settings import AppSettings
from app.settings_control import SettingsController
from app.state import LiveState
from app.workers import TaskContext, TaskRunner
from slowfast_core.model.net import SlowFast
from slowfast_core.stream.engine import Engine
from slowfast_core.stream.quality import interim_size
from slowfast_core.weights.api import ModelRequest, ReadyModel, load_head_ready, load_ready, ready_model

#: the weights a notice offers to download when the settings name none from the registry
FALLBACK_WEIGHTS = "SLOWFAST_8x8_R50"


class ModelController(QObject):
    """The model the window runs (`loaded`, `model`) and every way to change it.

    Signals: `loading(text)` a load began; `ready(loaded)` a model became the window's (before the engine
    runs it); `downloadRequested(name)` / `checkpointRequested()` a notice's button asks the window for the
    download dialog or the checkpoint file dialog.
    """

    loading = Signal(str)
    ready = Signal(object)
    downloadRequested = Signal(str)
    checkpointRequested = Signal()

    def __init__(self, control: EngineController, engine: Engine, state: LiveState, notices: NoticeModel,
                 prefs: SettingsController, quality: QualityController, tasks: TaskRunner, *,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control, self.engine, self.state, self.notices = control, engine, state, notices
        self.prefs, self.quality, self.tasks = prefs, quality, tasks
        self.loaded: ReadyModel | None = None
        self.closing = False  # the window is going away: late results are dropped
        control.modelSwitched.connect(self._on_switched)
        control.failed.connect(self._on_failed)
        quality.switchSize.connect(self.reload_at)

    @property
    def model(self) -> SlowFast | None:
        """The network the window runs (or is about to run); None until the first load ends."""
        return self.loaded.model if self.loaded is not None else None

    # --- asking for a model -----------------------------------------------------------------------------------
    def request(self, weights: str, *, explicit: bool = True) -> ModelRequest:
        """A request for `weights` on the settings' architecture and input size."""
        s = self.prefs.settings
        return ModelRequest(s.arch, weights, s.input_size, explicit=explicit)

    def load(self, request: ModelRequest) -> None:
        """Load `request` in the background; when ready, start the engine with it or switch to it.

        Auto quality (input size 0): at the size remembered for this machine + model; with none remembered (a
        first start), at Auto's smallest size until its search has measured the sizes on the fastest backend."""
        first_start = False
        if not request.input_size:
            request = dataclasses.replace(request, input_size=self.quality.size_for(request.arch, request.weights))
            first_start = self.quality.enabled and not request.input_size
        self.loading.emit(f"loading {request.weights or request.arch}…")

        def work(ctx: TaskContext) -> ReadyModel:
            ready = load_ready(request)
            if not first_start:
                return ready
            return ready_model(ready.model, request, weights_label=ready.info.weights, notice=ready.notice,
                               input_size=interim_size(ready.input_size), identity=ready.identity)

        handle = self.tasks.start("load-model", work)
        handle.done.connect(self._run)
        handle.failed.connect(lambda msg: self._on_load_failed(msg, request))

    def run_built(self, model: SlowFast | ReadyModel) -> None:
        """Run an already built model (injected by tests and tools: nothing to load); a bare network runs at
        the input size in the settings."""
        if not isinstance(model, ReadyModel):
            weights = model.meta.weights or ""
            model = ready_model(model, ModelRequest(model.config.name, weights), weights_label=weights,
                                input_size=self.prefs.settings.input_size)
        self._run(model)

    def open_checkpoint(self, path: str | Path) -> None:
        """Run the weights in checkpoint `path`; a bad file shows a notice and the current model stays."""
        self.load(self.request(str(path)))

    def use_untrained(self) -> None:
        """Run untrained (random) weights: for testing the program without any download."""
        self.load(self.request(""))

    def use_taught(self, path: str | Path) -> None:
        """Swap the running classifier for the taught one in `path`: a head taught on the running backbone goes
        on it as it is (only the head file is read; nothing is hashed); anything else loads in full."""
        request = self.request(str(path))
        running = self.engine.running_backend()
        size = running.preprocessing.short_side if running.preprocessing is not None else request.input_size
        handle = self.tasks.start("load-taught", lambda ctx: load_head_ready(path, request, running.model,
                                                                              running.identity, size))
        handle.done.connect(self._run_head)
        handle.failed.connect(lambda msg: self.notices.post("model", msg, "error"))

    @Slot(int)
    def reload_at(self, input_size: int) -> None:
        """Run the current model again at `input_size` (after a settings change or for Auto quality).

        A new size runs the same network with another preprocessing (nothing is copied; the engine resizes its
        buffer when the switch is warm); "model default" (0) loads the weights again to get their own.
        """
        current, loaded = self.model, self.loaded
        if current is None or loaded is None:
            return
        if input_size == 0:
            self.load(dataclasses.replace(loaded.request, input_size=0, explicit=True))
            return

        def work(ctx: TaskContext) -> ReadyModel:
            return ready_model(current, loaded.request, weights_label=loaded.info.weights, input_size=input_size)

        handle = self.tasks.start("resize-model", work)
        handle.done.connect(self._run)
        handle.failed.connect(lambda msg: self.notices.post("model", msg, "error"))

    def settings_changed(self, new: AppSettings, old: AppSettings) -> None:
        """Edited settings: a new input size, device or backend runs the model again."""
        if (new.input_size, new.device, new.backend) != (old.input_size, old.device, old.backend):
            self.reload_at(new.input_size)

    # --- handing a model over ---------------------------------------------------------------------------------
    def _take(self, loaded: ReadyModel) -> bool:
        """Make `loaded` the window's model; False when the window is closing (nothing is sent then)."""
        if self.closing:
            return False
        self.loaded = loaded
        self.state.set_model(loaded.info)
        self._show_notices(loaded)
        self.ready.emit(loaded)
        return True

    @Slot(object)
    def _run(self, loaded: ReadyModel) -> None:
        """Run `loaded` (the session starts the engine with it on the wanted source, or switches to it)."""
        if not self._take(loaded):
            return
        self.quality.model_running(loaded)
        self.control.requestModel.emit(loaded)

    @Slot(object)
    def _run_head(self, loaded: ReadyModel) -> None:
        if not self._take(loaded):
            return
        self.control.requestHead.emit(loaded)

    def _on_load_failed(self, message: str, request: ModelRequest) -> None:
        if self.closing:
            return
        self.notices.post("model", message, "error")
        if self.model is None and request.weights:
            self.load(ModelRequest(request.arch, "", request.input_size))  # keep the program usable

    @Slot(object)
    def _on_switched(self, loaded: ReadyModel) -> None:
        settings = self.prefs.settings
        settings.arch = loaded.info.arch
        settings.weights = loaded.request.weights if loaded.info.trained else ""
        self.prefs.save()

    @Slot(str, str)
    def _on_failed(self, kind: str, message: str) -> None:
        if kind == "model" and not self.closing:
            self.notices.post("model", message, "error")

    # --- notices ----------------------------------------------------------------------------------------------
    def default_weights(self) -> str:
        """The registry weights a notice offers: the settings' own when they name registry weights."""
        from slowfast_core.weights.registry import find_weights

        weights = self.prefs.settings.weights
        entry = find_weights(weights) if weights else None
        return entry.name if entry is not None else FALLBACK_WEIGHTS

    def weights_actions(self) -> list[Action]:
        """The buttons of a weights notice: download the default weights, open a checkpoint."""
        name = self.default_weights()
        return [(f"Download {name}", lambda: self.downloadRequested.emit(name)),
                ("Open checkpoint…", self.checkpointRequested.emit)]

    def _show_notices(self, loaded: ReadyModel) -> None:
        self.notices.dismiss("model")
        if loaded.notice:
            self.notices.post("weights", loaded.notice, "warning", self.weights_actions())
        else:
            self.notices.dismiss("weights")
        if not loaded.info.trained:
            self.notices.post(
                "untrained", "Untrained weights: predictions are meaningless. Pick downloaded weights in the Model "
                f"menu, run `slowfast weights download {self.default_weights()}`, or open a checkpoint file.",
                "warning", self.weights_actions())
        else:
            self.notices.dismiss("untrained")
