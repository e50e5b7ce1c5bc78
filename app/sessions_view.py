"""The Sessions window: list, rename, delete (with confirmation), replay, export.

Replay shows the session's video (decoded by a `ReplayController` off the GUI thread) above two timelines
side by side in time: the labels the person marked and the model's predictions, plus how well they agree.
Export writes a labeled-clips dataset in a background task with a progress bar; Export annotated video
writes the session's video with its predictions and marked labels drawn on it (the live overlay's look).

Over 400 lines on purpose: one dialog whose layout and actions (replay, repair, rename, delete, two exports)
read best together. What can stand alone has moved out: the text and bands it shows (app.session_text), the
frame canvas and the decoding thread (app.replay), the background tasks (app.workers).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import ProgressDialog
from app.replay import FrameCanvas, ReplayController
from app.session_text import (
    agreement_text,
    can_repair,
    label_bands,
    no_video_text,
    prediction_bands_from_records,
    show_info,
)
from app.timeline import BandTimeline
from app.workers import TaskContext, TaskHandle, TaskRunner
from slowfast_core.errors import SlowFastError
from slowfast_core.sessions.annotate import AnnotatedVideo, export_annotated_video
from slowfast_core.sessions import (
    RepairReport,
    Session,
    delete_session,
    export_dataset,
    list_sessions,
    load_session,
    rename_session,
    repair_session,
)
from slowfast_core.sessions.export import ExportReport
from slowfast_core.sessions.layout import SessionInfo

logger = logging.getLogger(__name__)


class ExportCancelled(Exception):
    """Raised from the export's progress callback when the user pressed Cancel."""


class SessionsWindow(QDialog):
    """Sessions under one root: list on the left, replay and actions on the right."""

    sessionsChanged = Signal()
    message = Signal(str, str)  # level, text: shown in the main window's message bar

    def __init__(self, root: Path, parent: QWidget | None = None, *, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Sessions — {root}")
        self.resize(980, 640)
        self.root = Path(root)
        self.runner = runner or TaskRunner(self)
        self.session: Session | None = None
        self._times: np.ndarray = np.zeros(0)
        self.replay = ReplayController(self)
        self.replay.player.frameAvailable.connect(self._on_replay_frame)
        self.replay.player.failed.connect(self._show_error)
        self.replay.player.stateChanged.connect(self._on_play_state)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(self._on_current)
        lv.addWidget(self.list, 1)
        row = QGridLayout()
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.export_button = QPushButton("Export…")
        self.refresh_button = QPushButton("Refresh")
        self.repair_button = QPushButton("Repair")
        self.repair_button.setToolTip("fix what can be fixed; the originals of rewritten files go to repair-backup/")
        self.repair_button.setEnabled(False)
        buttons = (self.rename_button, self.delete_button, self.export_button, self.refresh_button,
                   self.repair_button)
        for k, b in enumerate(buttons):
            row.addWidget(b, k // 2, k % 2)
        self.rename_button.clicked.connect(self.rename_current)
        self.delete_button.clicked.connect(self.delete_current)
        self.export_button.clicked.connect(self.export_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.repair_button.clicked.connect(self.repair_current)
        self.annotate_button = QPushButton("Export annotated video…")
        self.annotate_button.setToolTip("The session's video with its predictions and marked labels drawn on it")
        self.annotate_button.setEnabled(False)
        self.annotate_button.clicked.connect(self.export_annotated_current)
        row.addWidget(self.annotate_button, 3, 0, 1, 2)
        lv.addLayout(row)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.canvas = FrameCanvas()
        rv.addWidget(self.canvas, 1)
        controls = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self.toggle_play)
        self.position = QLabel("")
        controls.addWidget(self.play_button)
        controls.addWidget(self.position, 1)
        rv.addLayout(controls)
        self.labels_timeline = BandTimeline("labels")
        self.predictions_timeline = BandTimeline("predictions")
        for t in (self.labels_timeline, self.predictions_timeline):
            t.seekRequested.connect(self.seek_time)
            rv.addWidget(t)
        self.agreement = QLabel("")
        self.agreement.setWordWrap(True)
        rv.addWidget(self.agreement)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("color:#8a9099;")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rv.addWidget(self.details)
        split.addWidget(right)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([280, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self._playing = False
        self.refresh()

    # --- list ---------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the sessions folder, keeping the selection when possible."""
        current = self.current_info()
        self.list.blockSignals(True)
        self.list.clear()
        try:
            infos = list_sessions(self.root)
        except SlowFastError as exc:  # the folder itself cannot be listed
            infos = []
            self._show_error(str(exc))
        for info in reversed(infos):  # newest first
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, str(info.path))
            show_info(item, info)
            self.list.addItem(item)
        self.list.blockSignals(False)
        if not infos:
            self.canvas.message = f"no sessions yet in {self.root}: press R in the main window to record one"
            self.canvas.set_frame(None)
        target = 0
        if current is not None:
            for i in range(self.list.count()):
                if self.list.item(i).data(Qt.ItemDataRole.UserRole) == str(current.path):
                    target = i
        if self.list.count():
            self.list.blockSignals(True)
            self.list.setCurrentRow(target)
            self.list.blockSignals(False)
            self._on_current(self.list.currentItem())
        else:
            self.session = None
            self.repair_button.setEnabled(False)
            self.annotate_button.setEnabled(False)
        for b in (self.rename_button, self.delete_button, self.export_button):
            b.setEnabled(bool(infos))

    def current_info(self) -> SessionInfo | None:
        return self.session.info if self.session is not None else None

    def selected_paths(self) -> list[Path]:
        """The sessions selected in the list (the current one when nothing else is)."""
        paths = [Path(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()]
        if not paths and self.list.currentItem() is not None:
            paths = [Path(self.list.currentItem().data(Qt.ItemDataRole.UserRole))]
        return paths

    def _on_current(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is None:
            self.session = None
            return
        self.load(Path(item.data(Qt.ItemDataRole.UserRole)))

    def load(self, path: Path) -> None:
        """Show session `path`: its timelines, agreement and first video frame."""
        try:
            session = load_session(path)
        except SlowFastError as exc:
            self._show_error(str(exc))
            return
        self.session = session
        info = session.info
        item = self.list.currentItem()
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == str(path):
            show_info(item, info)  # every file was checked now, not only what the list looks at
        self.repair_button.setEnabled(can_repair(info))
        self._times = session.frames.time
        end = max([info.duration, *(s.end for s in session.labels), *(r.end for r in session.predictions), 1.0])
        self.labels_timeline.set_bands(label_bands(session), 0.0, end, origin=0.0)
        self.predictions_timeline.set_bands(prediction_bands_from_records(session), 0.0, end, origin=0.0)
        self.agreement.setText(agreement_text(session))
        self.details.setText(
            f"{info.width}×{info.height} @ {info.fps:g} fps · {info.frames} frames · {info.duration:.1f} s · "
            f"source {info.source} · model {info.model} ({info.weights or 'untrained'}) · labels: "
            f"{', '.join(info.labels)} · {info.path}"
            + (f" · stopped early: {info.error}" if info.error else "")
            + "".join(f"\n⚠ {p}" for p in info.problems)
        )
        self._pause()
        self.annotate_button.setEnabled(session.video_path is not None)
        if session.video_path is not None:
            self.canvas.set_frame(None)
            self.canvas.message = "loading the video…"
            self.play_button.setEnabled(True)
            self.replay.requestOpen.emit(str(session.video_path))
        else:
            self.play_button.setEnabled(False)
            self.canvas.message = no_video_text(info)
            self.canvas.set_frame(None)

    # --- replay -------------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self._playing:
            self._pause()
        else:
            self.replay.requestPlay.emit()

    def _pause(self) -> None:
        self.replay.requestPause.emit()

    def _on_play_state(self, playing: bool) -> None:
        self._playing = playing
        self.play_button.setText("Pause" if playing else "Play")

    def seek_time(self, t: float) -> None:
        """Jump the replay to `t` seconds since the session start."""
        if self.session is None or not len(self._times):
            return
        frame = int(np.searchsorted(self._times, t))
        self.replay.requestSeek.emit(frame)

    def _on_replay_frame(self) -> None:
        item = self.replay.player.take_frame()
        if item is None:
            return
        number, rgb = item
        self.canvas.set_frame(rgb)
        if len(self._times):
            t = float(self._times[min(number, len(self._times) - 1)])
            self.labels_timeline.set_cursor(t)
            self.predictions_timeline.set_cursor(t)
            self.position.setText(f"{int(t) // 60}:{t % 60:04.1f} · frame {number}")

    # --- actions ------------------------------------------------------------------------------------------------
    def repair_current(self) -> None:
        """Repair the current session in the background (the button is enabled only when repair can help)."""
        if self.session is not None:
            self.repair(self.session.path)

    def repair(self, path: Path):
        """Repair session `path` off the GUI thread; the result becomes a message and the list is re-read."""
        self._pause()
        self.replay.requestClose.emit()  # repair may replace the video file
        self.repair_button.setEnabled(False)
        handle = self.runner.start("repair", lambda ctx: repair_session(path))
        handle.done.connect(self._repair_done)
        handle.failed.connect(self._repair_failed)  # a bound method: a lambda here crashed PySide at teardown
        self.repair_handle = handle
        return handle

    def _repair_done(self, report: RepairReport) -> None:
        self.last_repair = report
        self.message.emit("error" if report.left else "info", report.summary())
        self.refresh()
        self.sessionsChanged.emit()

    def _repair_failed(self, message: str) -> None:
        self._show_error(message)
        self.refresh()

    def rename_current(self) -> None:
        if self.session is None:
            return
        name, ok = QInputDialog.getText(self, "Rename session", "New name:", text=self.session.name)
        if not ok or not name.strip():
            return
        self.rename(self.session.path, name)

    def rename(self, path: Path, name: str) -> Path | None:
        """Rename the session at `path`; errors become a message."""
        self._pause()
        self.replay.requestClose.emit()  # release the file before its folder moves
        try:
            new_path = rename_session(path, name)
        except (SlowFastError, OSError) as exc:
            self._show_error(str(exc))
            return None
        self.session = None
        self.refresh()
        self.sessionsChanged.emit()
        return new_path

    def delete_current(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        names = ", ".join(p.name for p in paths)
        answer = QMessageBox.question(
            self, "Delete sessions", f"Delete {len(paths)} session(s) for good?\n{names}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete(paths)

    def delete(self, paths: Sequence[Path]) -> None:
        """Delete sessions (already confirmed); errors become a message."""
        self._pause()
        self.replay.requestClose.emit()
        for path in paths:
            try:
                delete_session(path)
            except (SlowFastError, OSError) as exc:
                self._show_error(str(exc))
        self.session = None
        self.refresh()
        self.sessionsChanged.emit()

    def export_selected(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        out = QFileDialog.getExistingDirectory(self, "Export labeled clips into…", str(self.root.parent))
        if out:
            self.export(paths, Path(out))

    def _run_cancellable(self, name: str, dialog: ProgressDialog, work, done) -> TaskHandle:
        """Run `work(ctx, progress)` as task `name` under `dialog` (Cancel stops it at its next progress call);
        `progress(fraction, text)` raises `ExportCancelled` once cancelled. `done(result)` on success."""

        def run(ctx: TaskContext):
            def progress(fraction: float | None, text: str) -> None:
                if ctx.cancelled:
                    raise ExportCancelled()
                ctx.progress(fraction, text)

            return work(progress)

        handle = self.runner.start(name, run)
        dialog.buttons.rejected.connect(handle.cancel)
        dialog.buttons.rejected.connect(lambda: dialog.text.setText("cancelling…"))
        handle.progress.connect(dialog.set_progress)
        handle.done.connect(done)
        handle.failed.connect(lambda msg: self._export_failed(dialog, msg))
        dialog.show()
        return handle

    def export(self, paths: Sequence[Path], out_dir: Path) -> ProgressDialog:
        """Export `paths` as a labeled-clips dataset into `out_dir` in the background, with a progress bar."""
        dialog = ProgressDialog("Export", f"Exporting {len(paths)} session(s) into {out_dir}", self)
        self.export_dialog = dialog
        self.export_handle = self._run_cancellable(
            "export", dialog,
            lambda progress: export_dataset(list(paths), out_dir, progress=lambda done, total, what: progress(
                done / total if total else None, f"{done} of {total}: {what}")),
            lambda result: self._export_done(dialog, out_dir, result))
        return dialog

    def _export_done(self, dialog: ProgressDialog, out_dir: Path, report: ExportReport) -> None:
        dialog.set_progress(1.0, "done")
        dialog.accept()
        self.last_export = report
        text = (f"exported {len(report.clips)} clips ({len(report.label_map)} labels) to {report.out_dir}: "
                f"{report.csv_path.name}, {report.label_map_path.name}")
        if report.skipped:
            text += f"; {len(report.skipped)} skipped: " + "; ".join(report.skipped[:3])
            if len(report.skipped) > 3:
                text += f"; and {len(report.skipped) - 3} more"
        self.message.emit("warning" if report.skipped else "info", text)

    def export_annotated_current(self) -> None:
        """Ask where to write the current session as an annotated video, then write it."""
        if self.session is None or self.session.video_path is None:
            return
        suggested = self.root.parent / f"{self.session.path.name}-annotated.mp4"
        out, _ = QFileDialog.getSaveFileName(self, "Export annotated video", str(suggested),
                                             "Video (*.mp4 *.mkv *.mov *.avi)")
        if out:
            self.export_annotated(self.session.path, Path(out))

    def export_annotated(self, path: Path, out: Path) -> ProgressDialog:
        """Write session `path` with its predictions and marked labels drawn on every frame to `out`, in the
        background, with a progress bar; Cancel stops it and deletes the partial file."""
        dialog = ProgressDialog("Export annotated video", f"Drawing {path.name}'s predictions and labels into {out}",
                                self)
        self.annotate_dialog = dialog
        self.annotate_handle = self._run_cancellable(
            "annotate", dialog,
            lambda progress: export_annotated_video(path, out, progress=lambda done, total: progress(
                done / total if total else None, f"frame {done} of {total}")),
            lambda result: self._annotate_done(dialog, result))
        return dialog

    def _annotate_done(self, dialog: ProgressDialog, result: AnnotatedVideo) -> None:
        dialog.set_progress(1.0, "done")
        dialog.accept()
        self.last_annotated = result
        self.message.emit("info", f"annotated video written to {result.path} ({result.frames} frames, "
                                  f"{result.width}×{result.height} @ {result.fps:g} fps, {result.encoder})")

    def _export_failed(self, dialog: ProgressDialog, msg: str) -> None:
        dialog.reject()
        if "ExportCancelled" in msg:
            self.message.emit("info", "export cancelled")
        else:
            self._show_error(msg)

    def _show_error(self, text: str) -> None:
        self.message.emit("error", text)
        self.details.setText(text)

    def done(self, result: int) -> None:  # Esc or the close button: pause and release the video
        self._pause()
        self.replay.requestClose.emit()
        super().done(result)

    def shutdown(self) -> None:
        """Stop the replay thread (bounded wait); the window cannot replay afterwards."""
        self.replay.stop()
