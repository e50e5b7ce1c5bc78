"""The main window: live video with the prediction overlay, timeline, status bar, menus, recording.

Glue only: the engine (slowfast_core.stream.engine) does capture and inference on its own threads; an
`EngineBridge` turns its callbacks into queued signals that feed a `LiveState`, which the views follow.
Everything slow runs off the GUI thread: engine start/switch in the `EngineController` thread, model
loading, repairs, exports and finishing recordings as `TaskRunner` tasks, downloads in a child process.
Closing stops every thread within about two seconds (engine.stop + quit()/wait(), never terminate()).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QLoggingCategory, QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.dialogs import DownloadDialog, ProgressDialog, RecordDialog, SettingsDialog
from app.engine_control import EngineController, ModelRequest, ReadyModel, load_requested_model, ready_model
from app.teach_dialog import TeachDialog, fill_my_models
from app.label_bar import LabelBar
from app.message_bar import MessageBar
from app.quality import QualityController
from app.settings import AppSettings, SettingsStore
from app.state import LiveState
from app.status_panel import StatusPanel
from app.timeline import LiveTimeline
from app.video_view import VideoView
from app.workers import TaskContext, TaskRunner
from slowfast_core import __version__
from slowfast_core.errors import SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.sessions import SessionRecorder, default_root, find_unfinished, repair_session
from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.stream.types import EngineError, EngineStatus
from slowfast_core.video.cameras import CameraChoice, discover_cameras
from slowfast_core.weights.my_models import models_dir

log = logging.getLogger(__name__)

DEMO_SOURCE = "synthetic:640x480@30"
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.pyth *.pth *.pt *.pkl *.ckpt);;All files (*)"


def qt_camera_names() -> list[tuple[str, str]]:
    """(device id, description) of every video input Qt Multimedia knows (raises when it cannot load)."""
    QLoggingCategory.setFilterRules("qt.multimedia.*=false")
    from PySide6.QtMultimedia import QMediaDevices

    return [(bytes(dev.id().data()).decode("utf-8", "replace"), dev.description())
            for dev in QMediaDevices.videoInputs()]


def source_title(spec: str) -> str:
    """A short human name for a source spec (menus, notices)."""
    if spec.startswith("file:"):
        return Path(spec[len("file:"):]).name
    if spec.startswith("synthetic"):
        return "demo source (synthetic)"
    return spec


class MainWindow(QMainWindow):
    """SlowFast Live's window. All collaborators can be injected so tests are hermetic.

    store: where settings persist; settings: start from these instead of the stored ones; sessions_root:
    folder for recordings; start_source: source spec to open instead of the last used one; model: an already
    built model to run (skips loading); cameras: the camera list (None: ask Qt Multimedia);
    repair_on_start: look for crashed sessions at start.
    """

    engineStarted = Signal()
    recordingStopped = Signal(object)  # SessionInfo

    def __init__(
        self,
        *,
        store: SettingsStore,
        settings: AppSettings | None = None,
        sessions_root: str | Path | None = None,
        start_source: str | None = None,
        model: SlowFast | ReadyModel | None = None,
        cameras: list[CameraChoice] | None = None,
        repair_on_start: bool = True,
        engine_settings: dict | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings = settings if settings is not None else store.load()
        root = sessions_root or self.settings.sessions_root
        self.sessions_root = Path(root).expanduser() if root else default_root()
        self.cameras = cameras if cameras is not None else discover_cameras(qt_camera_names)
        self._start_source = start_source
        self._injected_model = model
        self._repair_on_start = repair_on_start
        self._closing = False
        self._closed = False
        self.close_seconds: float | None = None
        self.model: SlowFast | None = None
        self.loaded: ReadyModel | None = None
        self.source_spec: str | None = None
        self.recorder: SessionRecorder | None = None
        self._recorder_unsubscribe = None
        self._stopping_recording = False
        self._ended_notice_for: str | None = None
        self._capture_error_at = 0.0
        self.sessions_window = None
        self.last_session = None

        self.setWindowTitle("SlowFast Live")
        self.resize(1100, 760)
        self.state = LiveState(self)
        self.state.set_options(threshold=self.settings.threshold, topk=self.settings.topk,
                               stride_s=self.settings.stride_s)
        self.tasks = TaskRunner(self)
        self.bridge = EngineBridge(self)
        self.bridge.frameAvailable.connect(self._on_frame_available)
        self.bridge.predictionReady.connect(self.state.add_prediction)
        self.bridge.statusChanged.connect(self._on_status)
        self.bridge.errorRaised.connect(self._on_engine_error)
        self._recorder_errors = _RecorderErrors(self)
        self._recorder_errors.error.connect(self._on_recorder_error)

        extra = dict(engine_settings or {})
        extra.setdefault("backend", self.settings.backend)  # "auto": the core's start-up policy (backends.policy)
        self.engine = Engine(EngineSettings(
            stride_s=self.settings.stride_s, topk=self.settings.topk, threshold=self.settings.threshold,
            smoothing=self.settings.smoothing, device=self.settings.device, **extra,
        ))
        self._unsubscribe_bridge = self.engine.subscribe(self.bridge)
        self.control = EngineController(self.engine)
        self.control.started.connect(self._on_engine_started)
        self.control.sourceSwitched.connect(self._on_source_switched)
        self.control.modelSwitched.connect(self._on_model_switched)
        self.control.failed.connect(self._on_control_failed)
        self.quality = QualityController(self.engine, self.state, parent=self)
        self.quality.configure(auto=self.settings.input_size == 0, stride_s=self.settings.stride_s,
                               device=self.settings.device)
        self.quality.switchSize.connect(self._reload_current)

        self._build_ui()
        self._build_actions()
        self._build_menus()
        self._restore_geometry()
        QTimer.singleShot(0, self._startup)

    # ================================================================== UI
    def _build_ui(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.messages = MessageBar(central)
        self.video = VideoView(self.state, central)
        self.label_bar = LabelBar(self.state, central)
        self.label_bar.set_labels(self.settings.labels)
        self.label_bar.labelClicked.connect(self.mark_label)
        self.label_bar.endClicked.connect(self.end_label)
        self.label_bar.stopClicked.connect(self.stop_recording)
        self.timeline = LiveTimeline(self.state, central)
        layout.addWidget(self.messages)
        layout.addWidget(self.video, 1)
        layout.addWidget(self.label_bar)
        layout.addWidget(self.timeline)
        self.setCentralWidget(central)
        self.status_panel = StatusPanel(self.state)
        self.statusBar().addWidget(self.status_panel, 1)
        self.statusBar().addPermanentWidget(self.messages.more_button)  # the notices the banner does not show
        self.statusBar().addPermanentWidget(self.quality.label)  # Auto quality: the size chosen, what it costs
        self.statusBar().setSizeGripEnabled(False)

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if shortcut else tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even with the menu bar hidden (full screen)
        return action

    def _build_actions(self) -> None:
        self.open_file_action = self._action("&Open video file…", self.open_file_dialog, QKeySequence.StandardKey.Open,
                                             "Play a video file as the source")
        self.demo_action = self._action("&Demo source (synthetic)", lambda: self.switch_source(DEMO_SOURCE),
                                        "Ctrl+D", "A moving test scene: works without a camera")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.open_checkpoint_action = self._action("Open &checkpoint…", self.open_checkpoint_dialog,
                                                   "Ctrl+Shift+O", "Run the weights from a checkpoint file")
        self.untrained_action = self._action("&Untrained weights (testing only)", self.use_untrained)
        self.record_action = self._action("&Record…", self.toggle_recording, "R",
                                          "Start or stop recording a labeled session")
        self.end_label_action = self._action("&End current label", self.end_label, "Space")
        self.label_actions = [
            self._action(f"Mark label {k}", lambda _c=False, i=k - 1: self.mark_label(i), str(k)) for k in range(1, 10)
        ]
        self.sessions_action = self._action("&Sessions…", self.show_sessions, "Ctrl+Shift+S",
                                            "Replay, rename, delete and export recorded sessions")
        self.teach_action = self._action("&Teach…", self.show_teach, "Ctrl+Shift+T",
                                         "Teach it the actions marked in recorded sessions")
        self.settings_action = self._action("&Settings…", self.show_settings, QKeySequence.StandardKey.Preferences)
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.fullscreen_action = self._action("&Full screen", self.toggle_fullscreen, "F11", checkable=True)
        self.timeline_action = self._action("Show &timeline", self.toggle_timeline, "Ctrl+T", checkable=True)
        self.timeline_action.setChecked(True)
        self.help_action = self._action("&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self.about_action = self._action("&About SlowFast Live", self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_file_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        self.source_menu = bar.addMenu("&Source")
        self.source_menu.aboutToShow.connect(self._fill_sources)
        self._fill_sources()

        self.model_menu = bar.addMenu("&Model")
        self.model_menu.aboutToShow.connect(self._fill_models)
        self._fill_models()

        rec = bar.addMenu("&Record")
        rec.addAction(self.record_action)
        rec.addAction(self.end_label_action)
        marks = rec.addMenu("&Mark label")
        for a in self.label_actions:
            marks.addAction(a)
        rec.addSeparator()
        rec.addAction(self.sessions_action)
        rec.addAction(self.teach_action)

        view = bar.addMenu("&View")
        view.addAction(self.fullscreen_action)
        view.addAction(self.timeline_action)
        view.addSeparator()
        view.addAction(self.settings_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

        tools = QToolBar("Main", self)
        tools.setObjectName("main-toolbar")
        tools.setMovable(False)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tools.addAction(self.open_file_action)
        tools.addAction(self.demo_action)
        tools.addSeparator()
        tools.addAction(self.record_action)
        tools.addAction(self.sessions_action)
        tools.addSeparator()
        tools.addAction(self.settings_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
        self.toolbar = tools
        self._label_label_actions()

    def _label_label_actions(self) -> None:
        for i, a in enumerate(self.label_actions):
            name = self.settings.labels[i] if i < len(self.settings.labels) else None
            a.setText(f"{i + 1}: {name}" if name else f"{i + 1}: (no label)")
            a.setEnabled(name is not None)

    def _fill_sources(self) -> None:
        m = self.source_menu
        m.clear()
        if self.cameras:
            for cam in self.cameras:
                a = m.addAction(cam.name, lambda _c=False, s=cam.spec: self.switch_source(s))
                a.setCheckable(True)
                a.setChecked(self.source_spec == cam.spec)
        else:
            a = m.addAction("No camera found")
            a.setEnabled(False)
        m.addSeparator()
        m.addAction(self.open_file_action)
        m.addAction(self.demo_action)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for spec in self.settings.recent_files:
            self.recent_menu.addAction(source_title(spec), lambda _c=False, s=spec: self.switch_source(s))
        if not self.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _fill_models(self) -> None:
        from slowfast_core.weights.registry import is_cached, list_weights

        m = self.model_menu
        m.clear()
        group = QActionGroup(m)
        current = self.loaded.info.weights if self.loaded is not None else self.settings.weights
        for entry in list_weights():
            suffix = "" if is_cached(entry) else "  (download)"
            a = m.addAction(f"{entry.name}  ·  {entry.top1:.1f}% top-1{suffix}",
                            lambda _c=False, e=entry.name: self.choose_weights(e))
            a.setToolTip(entry.description)
            a.setCheckable(True)
            a.setChecked(current == entry.name)
            group.addAction(a)
        m.addSeparator()
        self.my_models_menu = fill_my_models(m, models_dir(self.sessions_root), self.open_checkpoint,
                                             self.loaded.request.weights if self.loaded is not None else "")
        m.addAction(self.open_checkpoint_action)
        m.addAction(self.untrained_action)

    # ================================================================== start-up
    def _startup(self) -> None:
        if self._closing:
            return
        spec = self._initial_source()
        self.source_spec = spec
        self.state.reset_source(source_title(spec))
        self.control.requestOpen.emit(spec)  # opened while the model loads
        if self._injected_model is not None:
            model, self._injected_model = self._injected_model, None
            if not isinstance(model, ReadyModel):  # a bare model runs at the input size in the settings
                model = ready_model(model, ModelRequest(model.config.name, model.meta.weights or ""),
                                    weights_label=model.meta.weights or "", input_size=self.settings.input_size)
            self._apply_loaded(model)
        else:
            self._load(ModelRequest(self.settings.arch, self.settings.weights, self.settings.input_size))
        if self._repair_on_start:
            self._repair_unfinished()

    def _initial_source(self) -> str:
        """The injected source, else the last used one (if it still exists), else a camera, else the demo."""
        if self._start_source:
            return self._start_source
        last = self.settings.source
        if last:
            if last.startswith("file:") and not Path(last[len("file:"):]).is_file():
                self.messages.show_message(f"the last video, {last[len('file:'):]}, is gone: showing another source",
                                           "info", key="source")
            elif last.startswith("camera:") and last not in {c.spec for c in self.cameras}:
                pass
            else:
                return last
        if self.cameras:
            return self.cameras[0].spec
        self.messages.show_message(
            "No camera found: showing the demo source. Open a video file (Ctrl+O) or connect a camera "
            "(Source menu).", "info", key="no-camera")
        return DEMO_SOURCE

    # ================================================================== model
    def _load(self, request: ModelRequest) -> None:
        """Load a model in the background; when ready, start the engine with it or switch to it."""
        if not request.input_size:  # Auto quality: at the size remembered for this machine + model, if any
            request = dataclasses.replace(request, input_size=self.quality.size_for(request.arch, request.weights))
        self.statusBar().showMessage(f"loading {request.weights or request.arch}…", 5000)

        def work(ctx: TaskContext) -> ReadyModel:
            return load_requested_model(request)

        handle = self.tasks.start("load-model", work)
        handle.done.connect(self._apply_loaded)
        handle.failed.connect(lambda msg: self._on_model_failed(msg, request))
        self._model_task = handle

    def _apply_loaded(self, loaded: ReadyModel) -> None:
        """Run `loaded`: start the engine on the current source, or switch the running engine to it."""
        if self._closing:
            return
        self.loaded = loaded
        self.model = loaded.model
        self.state.set_model(loaded.info)
        self._show_model_notices(loaded)
        self.quality.model_running(loaded)
        if self.engine.running:
            self.control.requestModel.emit(loaded)
        else:
            self.control.requestStart.emit(self.source_spec or DEMO_SOURCE, loaded)

    def _on_model_failed(self, message: str, request: ModelRequest) -> None:
        if self._closing:
            return
        self.messages.show_message(message, "error", key="model")
        if self.model is None and request.weights:
            self._load(ModelRequest(request.arch, "", request.input_size))  # keep the program usable

    def _show_model_notices(self, loaded: ReadyModel) -> None:
        self.messages.dismiss("model")
        if loaded.notice:
            self.messages.show_message(loaded.notice, "warning", key="weights", actions=self._weights_actions())
        else:
            self.messages.dismiss("weights")
        if not loaded.info.trained:
            self.messages.show_message(
                "Untrained weights: predictions are meaningless. Pick downloaded weights in the Model menu, "
                f"run `slowfast weights download {self._default_weights_name()}`, or open a checkpoint file.",
                "warning", key="untrained", actions=self._weights_actions())
        else:
            self.messages.dismiss("untrained")

    def _default_weights_name(self) -> str:
        from slowfast_core.weights.registry import find_weights

        entry = find_weights(self.settings.weights) if self.settings.weights else None
        return entry.name if entry is not None else "SLOWFAST_8x8_R50"

    def _weights_actions(self) -> list[tuple[str, object]]:
        name = self._default_weights_name()
        return [(f"Download {name}", lambda: self.choose_weights(name)),
                ("Open checkpoint…", self.open_checkpoint_dialog)]

    def choose_weights(self, name: str) -> None:
        """Run registry weights `name`: download first (with progress and cancel) when not cached."""
        from slowfast_core.weights.registry import cached_path, get_weights, is_cached

        entry = get_weights(name)
        if is_cached(entry):
            self._switch_model(ModelRequest(entry.arch, entry.name, self.settings.input_size, explicit=True))
            return
        dialog = DownloadDialog(entry.name, cached_path(entry), sys.executable, self)
        dialog.finished.connect(lambda result: self._download_finished(dialog, entry.name, entry.arch, result))
        self.download_dialog = dialog
        dialog.start()
        dialog.show()

    def _download_finished(self, dialog: DownloadDialog, name: str, arch: str, result: int) -> None:
        if result == DownloadDialog.DialogCode.Accepted:
            self._switch_model(ModelRequest(arch, name, self.settings.input_size, explicit=True))
        elif dialog.error == "download cancelled":
            self.messages.show_message(f"download of {name} cancelled", "info", key="download")
        elif dialog.error:
            self.messages.show_message(dialog.error, "error", key="download", actions=self._weights_actions()[1:])

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> None:
        """Run the weights in checkpoint `path`; a bad file shows a message and the current model stays."""
        self._switch_model(ModelRequest(self.settings.arch, str(path), self.settings.input_size, explicit=True))

    def use_untrained(self) -> None:
        self._switch_model(ModelRequest(self.settings.arch, "", self.settings.input_size, explicit=True))

    def _switch_model(self, request: ModelRequest) -> None:
        self._load(request)

    @Slot(object)
    def _on_model_switched(self, loaded: ReadyModel) -> None:
        self.settings.arch = loaded.info.arch
        self.settings.weights = loaded.request.weights if loaded.info.trained else ""
        self._save_settings()

    # ================================================================== source
    def switch_source(self, spec: str) -> None:
        """Show source `spec` (camera:…, file:…, synthetic…); failures leave the current source running."""
        if not self.engine.running:
            if self.loaded is None:
                self.source_spec = spec  # used once the model is ready
                return
            self.control.requestStart.emit(spec, self.loaded)
            return
        self.statusBar().showMessage(f"opening {source_title(spec)}…", 3000)
        self.control.requestSource.emit(spec)

    def open_file_dialog(self) -> None:
        start = str(Path(self.source_spec[len("file:"):]).parent) if (self.source_spec or "").startswith("file:") \
            else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open video file", start, VIDEO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        self.switch_source(f"file:{Path(path).expanduser().resolve()}")

    @Slot(str, str)
    def _on_engine_started(self, name: str, spec: str) -> None:
        self._source_is_now(name, spec)
        self.engineStarted.emit()

    @Slot(str, str)
    def _on_source_switched(self, name: str, spec: str) -> None:
        self._source_is_now(name, spec)

    def _source_is_now(self, name: str, spec: str) -> None:
        if self.recorder is not None and spec != self.source_spec:
            self.messages.show_message("the source changed while recording: the session keeps recording the new "
                                       "source's frames", "info", key="record-source")
        self.source_spec = spec
        self.state.reset_source(name)
        self.messages.dismiss("source")
        self._ended_notice_for = None
        self.settings.source = spec
        if spec.startswith("file:"):
            recent = [spec, *[s for s in self.settings.recent_files if s != spec]]
            self.settings.recent_files = recent[:8]
        self._save_settings()

    @Slot(str, str)
    def _on_control_failed(self, kind: str, message: str) -> None:
        if self._closing:
            return
        key = "source" if kind in ("source", "start") else "model"
        self.messages.show_message(message, "error", key=key)
        if kind == "start" and self.source_spec != DEMO_SOURCE and self.loaded is not None:
            # the remembered source is unusable: keep the program useful with the demo source
            self.messages.show_message(f"{message} — showing the demo source instead", "error", key="source")
            self.source_spec = DEMO_SOURCE
            self.control.requestStart.emit(DEMO_SOURCE, self.loaded)

    # ================================================================== engine events
    @Slot()
    def _on_frame_available(self) -> None:
        frame = self.bridge.take_frame()
        if frame is not None:
            self.state.set_frame(frame)

    @Slot(object)
    def _on_status(self, status: EngineStatus) -> None:
        self.state.set_status(status)
        if status.state == "running" and self.messages.has("engine:capture") and self.state.frame is not None \
                and self.state.frame.timestamp > self._capture_error_at:
            self.messages.dismiss("engine:capture")  # the source recovered: frames arrive again
        if status.state == "ended" and self._ended_notice_for != status.source:
            self._ended_notice_for = status.source
            spec = self.source_spec
            self.messages.show_message(f"{source_title(spec or status.source)} ended", "info", key="ended",
                                       actions=[("Play again", lambda: self.switch_source(spec))] if spec else [])

    @Slot(object)
    def _on_engine_error(self, error: EngineError) -> None:
        if self._closing:
            return
        level = "error" if error.fatal else "warning"
        if error.where == "capture":
            self._capture_error_at = time.monotonic()
        self.messages.show_message(error.message, level, key=f"engine:{error.where}")

    # ================================================================== recording
    def toggle_recording(self) -> None:
        if self.recorder is not None:
            self.stop_recording()
        else:
            self.start_recording_dialog()

    def start_recording_dialog(self) -> None:
        dialog = RecordDialog(self.settings.labels, self)
        if dialog.exec() != RecordDialog.DialogCode.Accepted:
            return
        self.start_recording(dialog.name(), dialog.labels())

    def start_recording(self, name: str, labels: list[str]) -> bool:
        """Start recording session `name` with label set `labels` (saved for next time). False on failure."""
        if self.recorder is not None or self._stopping_recording:
            return False
        frame = self.state.frame
        status = self.state.status
        if frame is None or not self.engine.running:
            self.messages.show_message("nothing to record yet: wait for the video to appear", "error", key="record")
            return False
        self.settings.labels = list(labels)
        self.label_bar.set_labels(self.settings.labels)
        self._label_label_actions()
        self._save_settings()
        h, w = frame.image.shape[:2]
        info = self.loaded.info if self.loaded is not None else None
        try:
            self.recorder = SessionRecorder.start(
                self.sessions_root, name=name, labels=labels,
                source=status.source if status is not None and status.source else (self.source_spec or ""),
                fps=frame.source_fps or 30.0, width=w, height=h,
                model=info.arch if info else "", weights=(info.weights or None) if info else None,
                program_version=__version__, on_error=self._recorder_errors.error.emit,
            )
        except (SlowFastError, ValueError, OSError) as exc:
            self.messages.show_message(str(exc), "error", key="record")
            self.recorder = None
            return False
        self._recorder_unsubscribe = self.engine.subscribe(self.recorder)
        self.messages.dismiss("record")
        self.state.set_recording(name)
        self.record_action.setText("Stop &recording")
        return True

    def _mark_time(self) -> float | None:
        """The timestamp of the frame on screen: marks match what the person saw, not the display delay."""
        return self.state.frame.timestamp if self.state.frame is not None else None

    def mark_label(self, index: int) -> None:
        """Key 1–9 / label button: start label `index`; the same one again ends it."""
        if self.recorder is None:
            self.statusBar().showMessage("press R to start recording before marking labels", 4000)
            return
        if index >= len(self.settings.labels):
            return
        label = self.settings.labels[index]
        try:
            self.recorder.mark(label, at=self._mark_time())
        except ValueError as exc:
            self.messages.show_message(str(exc), "error", key="record")
            return
        self.state.set_recording(self.state.recording_name, active_label=self.recorder.current_label)

    def end_label(self) -> None:
        """Space: end the open labeled segment."""
        if self.recorder is None:
            return
        self.recorder.end_mark(at=self._mark_time())
        self.state.set_recording(self.state.recording_name, active_label=self.recorder.current_label)

    def stop_recording(self) -> None:
        """Stop recording: frames stop at once; the video is joined in the background with a progress bar."""
        recorder = self.recorder
        if recorder is None or self._stopping_recording:
            return
        self._stopping_recording = True
        if self._recorder_unsubscribe is not None:
            self._recorder_unsubscribe()
            self._recorder_unsubscribe = None
        self.state.set_recording(None)
        self.record_action.setText("&Record…")
        dialog = ProgressDialog("Saving the session", f"Writing the video of {recorder.info.name}…", self,
                                cancellable=False)
        dialog.set_progress(-1.0)

        def work(ctx: TaskContext):
            return recorder.stop(progress=lambda done, total: ctx.progress(done / total if total else None,
                                                                           f"{done} of {total} frames"))

        handle = self.tasks.start("stop-recording", work)
        handle.progress.connect(dialog.set_progress)
        handle.done.connect(lambda info: self._recording_saved(dialog, info))
        handle.failed.connect(lambda msg: self._recording_saved(dialog, None, msg))
        self._stop_dialog = dialog
        if not self._closing:
            QTimer.singleShot(400, lambda: dialog.show() if not handle.is_finished else None)

    def _recording_saved(self, dialog: ProgressDialog, info, error: str | None = None) -> None:
        dialog.hide()
        dialog.deleteLater()
        self.recorder = None
        self._stopping_recording = False
        self.last_session = info
        if error or info is None:
            self.messages.show_message(error or "the recording could not be finished", "error", key="record")
        elif info.error:
            self.messages.show_message(info.error, "error", key="record")
        elif not self._closing:
            self.messages.show_message(
                f"Session '{info.name}' saved: {info.frames} frames, {info.duration:.1f} s in {info.path}", "info",
                key="record", actions=[("Show sessions", self.show_sessions)])
        self.recordingStopped.emit(info)
        if self._closing:
            self.close()

    @Slot(str)
    def _on_recorder_error(self, message: str) -> None:
        """The recorder stopped by itself (disk full, writer failure): say so and finish what was recorded."""
        self.messages.show_message(message, "error", key="record")
        self.stop_recording()

    def _repair_unfinished(self) -> None:
        root = self.sessions_root

        def work(ctx: TaskContext) -> list[str]:
            out = []
            for info in find_unfinished(root):
                if ctx.cancelled:
                    break
                try:
                    out.append(repair_session(info.path).summary())
                except SlowFastError as exc:
                    out.append(f"{info.path.name}: could not be repaired: {exc}")
            return out

        handle = self.tasks.start("repair", work)
        handle.done.connect(self._on_repaired)
        handle.failed.connect(lambda msg: self.messages.show_message(msg, "error", key="repair"))
        self._repair_task = handle

    def _on_repaired(self, summaries: list[str]) -> None:
        self.repaired = summaries
        if summaries and not self._closing:
            text = (f"Repaired {len(summaries)} unfinished session(s) left by a crash: " + "; ".join(summaries))
            self.messages.show_message(text, "info", key="repair", actions=[("Show sessions", self.show_sessions)])

    # ================================================================== other windows
    def show_sessions(self) -> None:
        from app.sessions_view import SessionsWindow

        if self.sessions_window is None:
            self.sessions_window = SessionsWindow(self.sessions_root, self, runner=self.tasks)
            self.sessions_window.message.connect(
                lambda level, text: self.messages.show_message(text, level, key="sessions"))
        else:
            self.sessions_window.refresh()
        self.sessions_window.show()
        self.sessions_window.raise_()

    def show_teach(self) -> None:
        """Record -> Teach…: on the running model's backbone, so recorded features are reused (app/teach_dialog)."""
        base = (self.loaded.request.weights or self.loaded.info.arch) if self.loaded is not None else None
        size = self.loaded.input_size if self.loaded is not None else 0
        self.teach_dialog = TeachDialog(self.sessions_root, base=base, size=size,
                                        models_folder=models_dir(self.sessions_root), parent=self)
        self.teach_dialog.useModel.connect(self.use_taught_model)
        self.teach_dialog.show()

    def use_taught_model(self, path: Path) -> None:
        """Swap the running classifier for a taught one (same backbone: no reload, no gap in the video)."""
        request = ModelRequest(self.settings.arch, str(path), self.settings.input_size, explicit=True)
        handle = self.tasks.start("load-taught", lambda ctx: load_requested_model(request))
        handle.done.connect(self._apply_taught)
        handle.failed.connect(lambda msg: self.messages.show_message(msg, "error", key="model"))

    def _apply_taught(self, loaded: ReadyModel) -> None:
        if self._closing:
            return
        self.loaded, self.model = loaded, loaded.model
        self.state.set_model(loaded.info)
        self._show_model_notices(loaded)
        if self.engine.running:
            self.control.requestHead.emit(loaded)
        else:
            self.control.requestStart.emit(self.source_spec or DEMO_SOURCE, loaded)

    def show_settings(self) -> None:
        import torch

        dialog = SettingsDialog(self.settings, self, cuda_available=torch.cuda.is_available())
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: AppSettings) -> None:
        """Apply edited settings: live ones at once, device and input size by reloading the model."""
        old = self.settings
        self.settings = new
        try:
            self.engine.update_settings(stride_s=new.stride_s, topk=new.topk, threshold=new.threshold,
                                        smoothing=new.smoothing, device=new.device, backend=new.backend)
        except SlowFastError as exc:
            self.messages.show_message(str(exc), "error", key="settings")
            self.settings = old
            return
        self.state.set_options(threshold=new.threshold, topk=new.topk, stride_s=new.stride_s)
        self.quality.configure(auto=new.input_size == 0, stride_s=new.stride_s, device=new.device)
        self._save_settings()
        if self.model is not None and (new.input_size, new.device, new.backend) != (old.input_size, old.device,
                                                                                   old.backend):
            self._reload_current(new.input_size)

    def _reload_current(self, input_size: int) -> None:
        """Run the current model again after a change of input size, device or backend.

        A new input size runs the same network with another preprocessing (the engine resizes its buffer when
        the switch is warm); "model default" (0) loads the weights again to get their own preprocessing.
        """
        current, loaded = self.model, self.loaded
        if current is None or loaded is None:
            return
        if input_size == 0:
            self._load(dataclasses.replace(loaded.request, input_size=0, explicit=True))
            return

        def work(ctx: TaskContext) -> ReadyModel:  # the same network at another input size: nothing is copied
            return ready_model(current, loaded.request, weights_label=loaded.info.weights, input_size=input_size)

        handle = self.tasks.start("resize-model", work)
        handle.done.connect(self._apply_loaded)
        handle.failed.connect(lambda msg: self.messages.show_message(msg, "error", key="model"))

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    def toggle_timeline(self) -> None:
        self.timeline.setVisible(self.timeline_action.isChecked())

    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Ctrl+O  open a video file\nCtrl+D  demo source\nCtrl+Shift+O  open a checkpoint\n"
            "R  start / stop recording\n1–9  start a label (same key ends it)\nSpace  end the current label\n"
            "Ctrl+Shift+S  sessions\nCtrl+,  settings\nCtrl+T  timeline\nF11  full screen\nCtrl+Q  quit"))

    def show_about(self) -> None:
        QMessageBox.about(self, "About SlowFast Live", (
            f"SlowFast Live {__version__}\nReal-time action recognition with the SlowFast network "
            "(Feichtenhofer et al., ICCV 2019).\n\n"
            f"Settings: {self.store.location}\nSessions: {self.sessions_root}"))

    def open_sessions_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.sessions_root)))

    # ================================================================== persistence and shutdown
    def _save_settings(self) -> None:
        try:
            self.store.save(self.settings)
        except Exception as exc:  # noqa: BLE001 - a settings file problem must not break the window
            log.warning("could not save settings: %s", exc)

    def _restore_geometry(self) -> None:
        geometry = self.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if self.recorder is not None:
            # finish the recording first (its video is joined in the background), then close
            self._closing = True
            event.ignore()
            self.stop_recording()
            return
        if self._stopping_recording:
            self._closing = True
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> float:
        """Stop everything: engine threads, controller and task threads. Returns the seconds it took."""
        if self._closed:
            return self.close_seconds or 0.0
        t0 = time.monotonic()
        self._closing = True
        self._closed = True
        self.store.set_value("window/geometry", self.saveGeometry())
        self._save_settings()
        self.bridge.close()
        self._unsubscribe_bridge()
        if self.sessions_window is not None:
            self.sessions_window.shutdown()
        ok = self.engine.stop(timeout=2.0)
        if not ok:
            log.warning("some engine threads did not stop within 2 s")
        self.control.shutdown(1000)
        self.tasks.shutdown(max(0.2, 2.0 - (time.monotonic() - t0)))
        self.close_seconds = time.monotonic() - t0
        return self.close_seconds


class _RecorderErrors(QObject):
    """Carries the recorder's error callback (any thread) to the GUI thread as a queued signal."""

    error = Signal(str)
