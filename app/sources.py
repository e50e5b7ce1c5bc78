"""The window's source controller: which camera, file or demo scene the engine shows, and what to say about it.

It chooses the start-up source (the one asked for, the last one used if it is still there, a camera, else the
demo), sends it as a wish to the `EngineController` (the live session starts or switches: never this module),
follows what the controller reports back (queued signals), keeps the recent-files list, and turns the engine's
status and errors into notices (a source that ended, a capture error and its recovery). Camera discovery
lives in the core (slowfast_core.video.cameras); this module only hands it Qt Multimedia's camera names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLoggingCategory, QObject, Signal, Slot

from app.engine_control import EngineController
from app.notices import NoticeModel
from app.settings_control import SettingsController
from app.state import LiveState
from slowfast_core.stream.types import EngineError, EngineStatus
from slowfast_core.video.cameras import CameraChoice
from slowfast_core.weights.api import ReadyModel

DEMO_SOURCE = "synthetic:640x480@30"
#: how many files File -> Open recent remembers
RECENT_FILES = 8


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


class SourceController(QObject):
    """The source the window shows. `spec`: the source running (or about to run) now.

    Signals: `changed(name, spec, previous_spec)` once a start or switch took effect; `opening(title)` when a
    switch is on its way. `current_model` says which model the demo fallback after a failed start runs (a
    `ReadyModel`; None while the first one loads).
    """

    changed = Signal(str, str, str)
    opening = Signal(str)  # a switch was asked for: the title of the source being opened

    def __init__(self, control: EngineController, state: LiveState, notices: NoticeModel,
                 prefs: SettingsController, *, cameras: list[CameraChoice],
                 current_model: Callable[[], ReadyModel | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.control, self.state, self.notices, self.prefs = control, state, notices, prefs
        self.cameras = cameras
        self.current_model = current_model
        self.spec: str | None = None
        self.closing = False  # the window is going away: failures are no longer shown or retried
        self._ended_notice_for: str | None = None
        self._capture_error_at = 0.0
        control.started.connect(self._on_running)
        control.sourceSwitched.connect(self._on_running)
        control.failed.connect(self._on_failed)

    # --- choosing -----------------------------------------------------------------------------------------------
    def initial(self, asked: str | None) -> str:
        """`asked`, else the last used source (if it still exists), else the first camera, else the demo."""
        if asked:
            return asked
        last = self.prefs.settings.source
        if last:
            if last.startswith("file:") and not Path(last[len("file:"):]).is_file():
                self.notices.post("source", f"the last video, {last[len('file:'):]}, is gone: showing another "
                                  "source", "info")
            elif not (last.startswith("camera:") and last not in {c.spec for c in self.cameras}):
                return last
        if self.cameras:
            return self.cameras[0].spec
        self.notices.post("no-camera", "No camera found: showing the demo source. Open a video file (Ctrl+O) or "
                          "connect a camera (Source menu).", "info")
        return DEMO_SOURCE

    def open_ahead(self, spec: str) -> None:
        """Start-up: show `spec` as the source and open it while the model loads (a camera takes a second)."""
        self.spec = spec
        self.state.reset_source(source_title(spec))
        self.control.requestOpen.emit(spec)

    def switch(self, spec: str) -> None:
        """Show source `spec` (camera:…, file:…, synthetic…): a wish, started on once a model runs, switched to
        while one does; failures leave the current source running."""
        self.opening.emit(source_title(spec))
        self.control.requestSource.emit(spec)

    def open_file(self, path: str | Path) -> None:
        """Play the video file `path`."""
        self.switch(f"file:{Path(path).expanduser().resolve()}")

    # --- what the controller reports --------------------------------------------------------------------------
    @Slot(str, str)
    def _on_running(self, name: str, spec: str) -> None:
        previous = self.spec or ""
        self.spec = spec
        self.state.reset_source(name)
        self.notices.dismiss("source")
        self._ended_notice_for = None
        settings = self.prefs.settings
        settings.source = spec
        if spec.startswith("file:"):
            settings.recent_files = [spec, *[s for s in settings.recent_files if s != spec]][:RECENT_FILES]
        self.prefs.save()
        self.changed.emit(name, spec, previous)

    @Slot(str, str)
    def _on_failed(self, kind: str, message: str) -> None:
        if self.closing or kind not in ("source", "start"):
            return
        self.notices.post("source", message, "error")
        model = self.current_model()
        if kind == "start" and self.spec != DEMO_SOURCE and model is not None:
            # the remembered source is unusable: keep the program useful with the demo source
            self.notices.post("source", f"{message} — showing the demo source instead", "error")
            self.spec = DEMO_SOURCE
            self.control.requestStart.emit(DEMO_SOURCE, model)

    # --- engine events about the source -----------------------------------------------------------------------
    @Slot(object)
    def follow_status(self, status: EngineStatus) -> None:
        """A status snapshot: clear a capture error once frames arrive again; say when a file has ended."""
        frame = self.state.frame
        if status.state == "running" and self.notices.has("engine:capture") and frame is not None \
                and frame.timestamp > self._capture_error_at:
            self.notices.dismiss("engine:capture")  # the source recovered: frames arrive again
        if status.state == "ended" and self._ended_notice_for != status.source:
            self._ended_notice_for = status.source
            spec = self.spec
            self.notices.post("ended", f"{source_title(spec or status.source)} ended", "info",
                              [("Play again", lambda: self.switch(spec))] if spec else [])

    @Slot(object)
    def report_error(self, error: EngineError) -> None:
        """An engine error: a notice per place it came from (fatal ones as errors)."""
        if self.closing:
            return
        if error.where == "capture":
            self._capture_error_at = time.monotonic()
        self.notices.post(f"engine:{error.where}", error.message, "error" if error.fatal else "warning")
