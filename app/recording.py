"""The window's recording controller: labeled sessions from the live view, and repairing what a crash left.

`start(name, labels)` subscribes a `SessionRecorder` to the engine; `mark`/`end_label` log labels at the
timestamp of the frame on screen (what the person saw, not the display delay); `stop()` unsubscribes at once
and joins the video in a `TaskRunner` task (`saving` carries its handle so the window can show progress;
`stopped` carries the finished session). The recorder reports its own failures (disk full, writer error) on
its threads; `failed` is a signal of this GUI-thread object, so they arrive queued and stop the recording.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.notices import NoticeModel
from app.settings_control import SettingsController
from app.state import LiveState
from app.workers import TaskContext, TaskHandle, TaskRunner
from slowfast_core.version import __version__
from slowfast_core.errors import SlowFastError
from slowfast_core.sessions import SessionRecorder, find_unfinished, repair_session
from slowfast_core.stream.engine import Engine
from slowfast_core.stream.queued import QueuedListener
from slowfast_core.weights.api import ModelInfo


#: predictions the recorder may fall behind (a stalled disk) before it drops some (and says so): ~2 min at 2/s
RECORDER_QUEUE = 256


class RecordingController(QObject):
    """Recording for one window. `recorder`: the session being recorded (None when none); `last_session`: the
    last one finished. Signals: `labelsChanged(labels)` the label set changed (saved for next time);
    `saving(handle, name)` the video is being finished; `stopped(info)` it is (info None: it failed);
    `failed(message)` the recorder stopped by itself; `repaired(summaries)`; `sessionsRequested()` a notice's
    "Show sessions" button."""

    labelsChanged = Signal(list)
    saving = Signal(object, str)
    stopped = Signal(object)
    failed = Signal(str)
    repaired = Signal(list)
    sessionsRequested = Signal()

    def __init__(self, engine: Engine, state: LiveState, notices: NoticeModel, prefs: SettingsController,
                 tasks: TaskRunner, *, sessions_root: Path, current_source: Callable[[], str],
                 model_info: Callable[[], ModelInfo | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine, self.state, self.notices, self.prefs, self.tasks = engine, state, notices, prefs, tasks
        self.sessions_root = sessions_root
        self.current_source = current_source
        self.model_info = model_info
        self.recorder: SessionRecorder | None = None
        self.last_session = None
        self.stopping = False
        self.closing = False  # the window closes once the recording is saved: no "saved" notice then
        self._unsubscribe: Callable[[], None] | None = None
        self._queued: QueuedListener | None = None  # the recorder's predictions, on a thread of their own
        self.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        """True while a session records or its video is being finished."""
        return self.recorder is not None or self.stopping

    # --- recording --------------------------------------------------------------------------------------------
    def start(self, name: str, labels: list[str]) -> bool:
        """Start recording session `name` with label set `labels` (saved for next time). False on failure."""
        if self.busy:
            return False
        frame, status = self.state.frame, self.state.status
        if frame is None or status is None or status.state == "stopped":  # what the engine last said
            self.notices.post("record", "nothing to record yet: wait for the video to appear", "error")
            return False
        self.prefs.settings.labels = list(labels)
        self.prefs.save()
        self.labelsChanged.emit(list(labels))
        h, w = frame.image.shape[:2]
        info = self.model_info()
        try:
            self.recorder = SessionRecorder.start(
                self.sessions_root, name=name, labels=labels,
                source=status.source if status is not None and status.source else self.current_source(),
                fps=frame.source_fps or 30.0, width=w, height=h,
                model=info.arch if info else "", weights=(info.weights or None) if info else None,
                program_version=__version__, on_error=self.failed.emit,
            )
        except (SlowFastError, ValueError, OSError) as exc:
            self.notices.post("record", str(exc), "error")
            self.recorder = None
            return False
        # predictions.jsonl is written on a thread of its own: a slow disk never holds the inference thread
        self._queued = QueuedListener(self.recorder, capacity=RECORDER_QUEUE)
        self._unsubscribe = self.engine.subscribe(self._queued)
        self.notices.dismiss("record")
        self.state.set_recording(name)
        return True

    def _mark_time(self) -> float | None:
        """The timestamp of the frame on screen: marks match what the person saw, not the display delay."""
        return self.state.frame.timestamp if self.state.frame is not None else None

    def mark(self, index: int) -> bool:
        """Start label `index` of the label set; the same one again ends it. False when nothing records."""
        if self.recorder is None:
            return False
        labels = self.prefs.settings.labels
        if index >= len(labels):
            return True
        try:
            self.recorder.mark(labels[index], at=self._mark_time())
        except ValueError as exc:
            self.notices.post("record", str(exc), "error")
            return True
        self.state.set_recording(self.state.recording_name, active_label=self.recorder.current_label)
        return True

    def end_label(self) -> None:
        """End the open labeled segment, if any."""
        if self.recorder is None:
            return
        self.recorder.end_mark(at=self._mark_time())
        self.state.set_recording(self.state.recording_name, active_label=self.recorder.current_label)

    def stop(self) -> TaskHandle | None:
        """Stop recording: frames stop at once; the video is joined in the background (see `saving`)."""
        recorder = self.recorder
        if recorder is None or self.stopping:
            return None
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        queued, self._queued = self._queued, None
        self.state.set_recording(None)

        def work(ctx: TaskContext):
            if queued is not None:
                queued.close()  # the predictions it accepted are written first (off the GUI thread)
            return recorder.stop(progress=lambda done, total: ctx.progress(done / total if total else None,
                                                                           f"{done} of {total} frames"))

        handle = self.tasks.start("stop-recording", work)
        handle.done.connect(self._saved)
        handle.failed.connect(lambda msg: self._saved(None, msg))
        self.saving.emit(handle, recorder.info.name)
        return handle

    def _saved(self, info, error: str | None = None) -> None:
        self.recorder = None
        self.stopping = False
        self.last_session = info
        if error or info is None:
            self.notices.post("record", error or "the recording could not be finished", "error")
        elif info.error:
            self.notices.post("record", info.error, "error")
        elif not self.closing:
            self.notices.post("record", f"Session '{info.name}' saved: {info.frames} frames, {info.duration:.1f} s "
                              f"in {info.path}", "info", [("Show sessions", self.sessionsRequested.emit)])
        self.stopped.emit(info)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        """The recorder stopped by itself (disk full, writer failure): say so and finish what was recorded."""
        self.notices.post("record", message, "error")
        self.stop()

    def source_changed(self, _name: str, spec: str, previous: str) -> None:
        """The source changed: a session in progress goes on recording the new one (and the person is told)."""
        if self.recorder is not None and spec != previous:
            self.notices.post("record-source", "the source changed while recording: the session keeps recording "
                              "the new source's frames", "info")

    # --- crashed sessions -------------------------------------------------------------------------------------
    def repair_unfinished(self) -> TaskHandle:
        """Repair, in the background, every session a crash left unfinished (`repaired` lists what was done)."""
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
        handle.failed.connect(lambda msg: self.notices.post("repair", msg, "error"))
        return handle

    def _on_repaired(self, summaries: list[str]) -> None:
        if summaries and not self.closing:
            self.notices.post("repair", f"Repaired {len(summaries)} unfinished session(s) left by a crash: "
                              + "; ".join(summaries), "info", [("Show sessions", self.sessionsRequested.emit)])
        self.repaired.emit(summaries)
