"""The main window: builds the views, menus and toolbar, and wires the controllers' signals to them.

Behaviour lives in small controllers over the state, one per concern, each a QObject that turns what it
hears (engine callbacks through `EngineBridge`, the live session's reports through `EngineController`, tasks)
into queued Qt signals: `SourceController` (app.sources: camera, file or demo), `ModelController`
(app.models: load, switch, My models, the teach hand-off), `RecordingController` (app.recording: record,
labels, repair), `QualityController` (app.quality: Auto quality) and `SettingsController`
(app.settings_control). The views (app.video_view, app.timeline, …) follow `LiveState`; notices go to one
`NoticeModel` shown by the `MessageBar`. What stays here: dialogs, menus, and the close sequence, which stops
the request sender before the engine (app.shutdown) and every thread within about two seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from app.bridge import EngineBridge
from app.dialogs import DownloadDialog, ProgressDialog, RecordDialog, SettingsDialog
from app.detection import DetectionController, person_detector_choices, request_from, same_detector, startup_choice
from app.engine_control import DetectionRequest, EngineController
from app.label_bar import LabelBar
from app.menus import WindowMenus
from app.message_bar import MessageBar
from app.models import ModelController
from app.quality import QualityController
from app.recording import RecordingController
from app.settings import AppSettings, SettingsStore
from app.settings_control import SettingsController
from app.shutdown import stop_engine_side
from app.sources import SourceController, qt_camera_names
from app.state import LiveState
from app.status_panel import StatusPanel
from app.teach_dialog import TeachDialog
from app.timeline import LiveTimeline
from app.video_view import VideoView
from app.workers import TaskHandle, TaskRunner
from slowfast_core.version import __version__
from slowfast_core.model.net import SlowFast
from slowfast_core.sessions import default_root
from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.video.cameras import CameraChoice, discover_cameras
from slowfast_core.weights.my_models import models_dir
from slowfast_core.weights.api import ModelRequest

logger = logging.getLogger(__name__)

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v *.mpg *.mpeg);;All files (*)"
CHECKPOINT_FILTER = "Checkpoints (*.pyth *.pth *.pt *.pkl *.ckpt);;All files (*)"
#: how long closing may take for the engine side (controller, then engine) and the background tasks
CLOSE_BUDGET_S = 2.0


class MainWindow(WindowMenus, QMainWindow):
    """SlowFast Live's window. All collaborators can be injected so tests are hermetic.

    store: where settings persist; settings: start from these instead of the stored ones; sessions_root:
    folder for recordings; start_source: source spec to open instead of the last used one; model: an already
    built model to run (skips loading); cameras: the camera list (None: ask Qt Multimedia);
    repair_on_start: look for crashed sessions at start; engine_settings: extra `EngineSettings` fields;
    detection: the detection model and person detector the Detection toggle uses; detect: start with it on
    (None for either: what the settings remember).
    """

    engineStarted = Signal()

    def __init__(
        self,
        *,
        store: SettingsStore,
        settings: AppSettings | None = None,
        sessions_root: str | Path | None = None,
        start_source: str | None = None,
        model: SlowFast | None = None,
        cameras: list[CameraChoice] | None = None,
        repair_on_start: bool = True,
        engine_settings: dict | None = None,
        detection: DetectionRequest | None = None,
        detect: bool | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        settings = settings if settings is not None else store.load()
        root = sessions_root or settings.sessions_root
        self.sessions_root = Path(root).expanduser() if root else default_root()
        self._start_source = start_source
        self._injected_model = model
        self._repair_on_start = repair_on_start
        self._closing = False
        self._closed = False
        self.close_seconds: float | None = None
        self.sessions_window = None
        self.teach_dialog: TeachDialog | None = None
        self.download_dialog: DownloadDialog | None = None

        self.setWindowTitle("SlowFast Live")
        self.resize(1100, 760)
        self.state = LiveState(self)
        self.state.set_options(threshold=settings.threshold, topk=settings.topk, stride_s=settings.stride_s)
        self.tasks = TaskRunner(self)
        self.messages = MessageBar()  # parented by the layout in _build_ui
        notices = self.messages.model

        extra = dict(engine_settings or {})
        extra.setdefault("backend", settings.backend)  # "auto": the core's start-up policy (backends.policy)
        self.engine = Engine(EngineSettings(
            stride_s=settings.stride_s, topk=settings.topk, threshold=settings.threshold,
            smoothing=settings.smoothing, device=settings.device, **extra,
        ))
        self.bridge = EngineBridge(self)
        self._unsubscribe_bridge = self.engine.subscribe(self.bridge)
        self.control = EngineController(self.engine)
        self.prefs = SettingsController(store, settings, self.control.session, notices, self)
        self.quality = QualityController(self.control.session, self.state, parent=self)
        self.quality.configure(auto=settings.input_size == 0, stride_s=settings.stride_s, device=settings.device)
        self.sources = SourceController(
            self.control, self.state, notices, self.prefs,
            cameras=cameras if cameras is not None else discover_cameras(qt_camera_names),
            current_model=lambda: self.models.loaded, parent=self)
        self.models = ModelController(self.control, self.engine, self.state, notices, self.prefs, self.quality,
                                      self.tasks, parent=self)
        saved, saved_on = startup_choice(settings)  # at the window's threshold and device
        self.detection = DetectionController(
            self.control, notices, enabled=saved_on if detect is None else detect,
            request=detection or saved, prefs=self.prefs, parent=self)
        self.recording = RecordingController(
            self.engine, self.state, notices, self.prefs, self.tasks, sessions_root=self.sessions_root,
            current_source=lambda: self.sources.spec or "",
            model_info=lambda: self.models.loaded.info if self.models.loaded is not None else None, parent=self)

        self._build_ui()
        self._build_actions()
        self._build_menus()
        self._wire()
        self._restore_geometry()
        QTimer.singleShot(0, self._startup)

    # ================================================================== UI
    def _build_ui(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.video = VideoView(self.state, central)
        self.label_bar = LabelBar(self.state, central)
        self.label_bar.set_labels(self.prefs.settings.labels)
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

    def _wire(self) -> None:
        """Engine events to the state and the controllers; controllers' requests to dialogs and views."""
        self.bridge.frameAvailable.connect(self._on_frame_available)
        self.bridge.predictionReady.connect(self.state.add_prediction)
        self.bridge.statusChanged.connect(self.state.set_status)
        self.bridge.statusChanged.connect(self.sources.follow_status)
        self.bridge.errorRaised.connect(self.sources.report_error)
        self.control.started.connect(self._on_engine_started)  # a bound slot: queued from the control thread
        self.sources.opening.connect(lambda title: self.statusBar().showMessage(f"opening {title}…", 3000))
        self.sources.changed.connect(self.recording.source_changed)
        self.models.loading.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.models.downloadRequested.connect(self.choose_weights)
        self.models.checkpointRequested.connect(self.open_checkpoint_dialog)
        self.prefs.changed.connect(self._on_settings_changed)
        self.recording.labelsChanged.connect(self._on_labels_changed)
        self.recording.saving.connect(self._on_saving)
        self.recording.stopped.connect(self._on_recording_stopped)
        self.recording.sessionsRequested.connect(self.show_sessions)
        self.state.recordingChanged.connect(self._on_recording_changed)
        self.label_bar.labelClicked.connect(self.mark_label)
        self.label_bar.endClicked.connect(self.recording.end_label)
        self.label_bar.stopClicked.connect(self.recording.stop)
        self.detection.changed.connect(self._on_detection_changed)

    def _startup(self) -> None:
        if self._closing:
            return
        self.sources.open_ahead(self.sources.initial(self._start_source))  # opened while the model loads
        if self._injected_model is not None:
            model, self._injected_model = self._injected_model, None
            self.models.run_built(model)
        else:
            s = self.prefs.settings
            self.models.load(self.models.request(s.weights, explicit=False))
        if self._repair_on_start:
            self.recording.repair_unfinished()

    @Slot(str, str)
    def _on_engine_started(self, _name: str, _spec: str) -> None:
        self.engineStarted.emit()

    def _on_frame_available(self) -> None:
        frame = self.bridge.take_frame()
        if frame is not None:
            self.state.set_frame(frame)

    def _on_settings_changed(self, new: AppSettings, old: AppSettings) -> None:
        self.state.set_options(threshold=new.threshold, topk=new.topk, stride_s=new.stride_s)
        self.quality.configure(auto=new.input_size == 0, stride_s=new.stride_s, device=new.device)
        self.models.settings_changed(new, old)

    def toggle_detection(self) -> None:
        """View -> Detection: the per-person path (boxes and each person's actions) or the whole frame."""
        on = self.detection_action.isChecked()
        self.detection.set_enabled(on)
        self.statusBar().showMessage("detection: finding people…" if on else "detection off: the whole frame", 3000)

    def _on_detection_changed(self) -> None:
        self.detection_action.setChecked(self.detection.wanted)
        active = self.detection.active
        self.state.set_detection(active.title if active is not None else None)

    # ================================================================== dialogs: source and model
    def open_file_dialog(self) -> None:
        spec = self.sources.spec or ""
        start = str(Path(spec[len("file:"):]).parent) if spec.startswith("file:") else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open video file", start, VIDEO_FILTER)
        if path:
            self.sources.open_file(path)

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self.models.open_checkpoint(path)

    def open_detection_checkpoint_dialog(self) -> None:
        """Model -> Open detection checkpoint…: a file from `slowfast train --task detect` (or PyTorchVideo's)."""
        path, _ = QFileDialog.getOpenFileName(self, "Open detection checkpoint", str(Path.home()), CHECKPOINT_FILTER)
        if path:
            self.use_detection_model(path)

    def use_detection_model(self, weights: str | Path | None, arch: str | None = None) -> None:
        """Detection on with the detection model `weights` (a checkpoint file or a detection registry name;
        None: random weights of `arch`), keeping the person detector. A classifier checkpoint is one line."""
        req = self.detection.request
        self.detection.choose(request_from(self.prefs.settings, weights=str(weights) if weights else None,
                                           arch=arch, detector=req.detector))

    def use_person_detector(self, detector: str | None) -> None:
        """Detection on with the person `detector` (a torchvision registry name, scene:N, None: the default)."""
        self.detection.choose(dataclasses.replace(self.detection.request, detector=detector))

    def choose_weights(self, name: str) -> None:
        """Run registry weights `name`: download first (with progress and cancel) when not cached."""
        from slowfast_core.weights.registry import cached_path, get_weights, is_cached

        entry = get_weights(name)
        run = lambda: self.models.load(  # noqa: E731 - the same call now or after the download
            ModelRequest(entry.arch, entry.name, self.prefs.settings.input_size, explicit=True))
        if is_cached(entry):
            run()
        else:
            self._download(entry.name, cached_path(entry), run)

    def choose_detection_weights(self, name: str) -> None:
        """Model -> a detection registry entry: the per-person action model, or a person detector (`kind`);
        downloaded first (the same dialog and download code as the classifiers') when not cached."""
        from slowfast_core.weights.detection_registry import cached_detection_path, get_detection_weights

        entry = get_detection_weights(name)
        if entry.kind == "actions":
            run = lambda: self.use_detection_model(entry.name)  # noqa: E731
        else:
            run = lambda: self.use_person_detector(entry.name)  # noqa: E731
        path = cached_detection_path(entry)
        if path.is_file():
            run()
        else:
            self._download(entry.name, path, run,
                           [("Open detection checkpoint…", self.open_detection_checkpoint_dialog)])

    def use_default_person_detector(self) -> None:
        """Person detector -> Default for this device: downloaded first (in the dialog) when not cached, so the
        engine's thread never waits on a download."""
        from slowfast_core.detect.torchvision_detector import default_detector_name
        from slowfast_core.weights.detection_registry import cached_detection_path, get_detection_weights

        device = self.prefs.settings.device
        entry = get_detection_weights(default_detector_name(None if device == "auto" else device))
        if cached_detection_path(entry).is_file():
            self.use_person_detector(None)
        else:
            self._download(entry.name, cached_detection_path(entry), lambda: self.use_person_detector(None))

    def pick_person_detector(self, name: str | None) -> None:
        """Model -> Person detector -> `name` (or the Settings dialog's pick): Detection on with it. The default
        (None) and torchvision's registry detectors are downloaded first, in the dialog, when not cached;
        scene:N (or a name the registry does not know: the controller's one-line error) is used at once."""
        from slowfast_core.weights.detection_registry import detection_registry

        if name is None:
            self.use_default_person_detector()
        elif any(same_detector(name, e.name) for e in detection_registry().values() if e.kind == "person"):
            self.choose_detection_weights(name)
        else:
            self.use_person_detector(name)

    def set_detection(self, on: bool, detector: str | None) -> None:
        """Settings -> Detection and Person detector: turning it off is the View toggle's path; turning it on
        (or picking another detector) is the Model menu's Person detector pick. Nothing when neither changed
        (each wish rebuilds the per-person step)."""
        if not on:
            if self.detection.wanted:
                self.detection_action.setChecked(False)
                self.toggle_detection()
        elif not self.detection.wanted or not same_detector(detector, self.detection.request.detector):
            self.pick_person_detector(detector)

    def _download(self, name: str, dest: Path, then: Callable[[], None],
                  actions: list | None = None) -> None:
        """Download registry weights `name` into `dest` in the download dialog (progress, cancel), then `then()`.
        actions: the failure notice's buttons (default: open a classifier checkpoint)."""
        dialog = DownloadDialog(name, dest, sys.executable, self)
        dialog.finished.connect(lambda result: self._download_finished(dialog, name, then, result, actions))
        self.download_dialog = dialog
        dialog.start()
        dialog.show()

    def _download_finished(self, dialog: DownloadDialog, name: str, then: Callable[[], None], result: int,
                           actions: list | None = None) -> None:
        notices = self.messages.model
        if result == DownloadDialog.DialogCode.Accepted:
            then()
        elif dialog.error == "download cancelled":
            notices.post("download", f"download of {name} cancelled", "info")
        elif dialog.error:
            notices.post("download", dialog.error, "error",
                         actions if actions is not None else self.models.weights_actions()[1:])

    # ================================================================== recording
    def toggle_recording(self) -> None:
        if self.recording.recorder is not None:
            self.recording.stop()
            return
        dialog = RecordDialog(self.prefs.settings.labels, self)
        if dialog.exec() == RecordDialog.DialogCode.Accepted:
            self.recording.start(dialog.name(), dialog.labels())

    def mark_label(self, index: int) -> None:
        """Key 1–9 / label button: start label `index`; the same one again ends it."""
        if not self.recording.mark(index):
            self.statusBar().showMessage("press R to start recording before marking labels", 4000)

    def _on_labels_changed(self, labels: list[str]) -> None:
        self.label_bar.set_labels(labels)
        self._label_label_actions()

    def _on_recording_changed(self) -> None:
        self.record_action.setText("Stop &recording" if self.state.recording_name else "&Record…")

    def _on_saving(self, handle: TaskHandle, name: str) -> None:
        """The video of session `name` is being finished: a progress dialog if it takes a while."""
        dialog = ProgressDialog("Saving the session", f"Writing the video of {name}…", self, cancellable=False)
        dialog.set_progress(-1.0)
        handle.progress.connect(dialog.set_progress)
        handle.finished.connect(dialog.hide)
        handle.finished.connect(dialog.deleteLater)
        if not self._closing:
            QTimer.singleShot(400, lambda: dialog.show() if not handle.is_finished else None)

    def _on_recording_stopped(self, _info) -> None:
        if self._closing:
            self.close()  # closing waited for the recording to be saved

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
        loaded = self.models.loaded
        base = (loaded.request.weights or loaded.info.arch) if loaded is not None else None
        size = loaded.input_size if loaded is not None else 0  # the size it runs at (its features were recorded at)
        self.teach_dialog = TeachDialog(self.sessions_root, base=base, size=size,
                                        models_folder=models_dir(self.sessions_root), parent=self)
        self.teach_dialog.useModel.connect(self.models.use_taught)
        self.teach_dialog.show()

    def show_settings(self) -> None:
        import torch

        detector = self.detection.request.detector
        dialog = SettingsDialog(self.prefs.settings, self, cuda_available=torch.cuda.is_available(),
                                detection=(self.detection.wanted, detector),
                                detectors=person_detector_choices(detector, self.sources.spec))
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.prefs.apply(dialog.result_settings())  # first: the default detector is the new device's
            self.set_detection(*dialog.result_detection())

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
    def _restore_geometry(self) -> None:
        geometry = self.store.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if self.recording.busy:
            # finish the recording first (its video is joined in the background), then close
            self._set_closing()
            event.ignore()
            self.recording.stop()
            return
        self.shutdown()
        event.accept()

    def _set_closing(self) -> None:
        """From now on late results are dropped and nothing new is started or announced."""
        self._closing = True
        for controller in (self.sources, self.models, self.recording, self.detection):
            controller.closing = True

    def shutdown(self) -> float:
        """Stop everything: the controller thread, then the engine, then task threads. Returns the seconds taken."""
        if self._closed:
            return self.close_seconds or 0.0
        t0 = time.monotonic()
        self._closed = True
        self._set_closing()
        self.store.set_value("window/geometry", self.saveGeometry())
        self.prefs.save()
        self.bridge.close()
        self._unsubscribe_bridge()
        if self.sessions_window is not None:
            self.sessions_window.shutdown()
        stop_engine_side(self.control, self.engine, timeout_s=CLOSE_BUDGET_S)  # whoever sends requests first
        self.tasks.shutdown(max(0.2, CLOSE_BUDGET_S - (time.monotonic() - t0)))
        self.close_seconds = time.monotonic() - t0
        return self.close_seconds
