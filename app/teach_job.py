"""The Teach window's controller: `python -m slowfast_core.train.teach_child` in a child process.

`TeachJob` (a small QObject controller) runs the child (QProcess) and turns its JSON lines into signals: the
plan, progress, one metrics record per step group, the result, or one error line. Cancel kills the child; a
child that dies is a message, never the window's crash. The next child is started ahead of time (`prewarm`):
it imports torch while the person chooses, then waits for its job on stdin, so Train starts at once.
`session_rows` lists what there is to teach from.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from slowfast_core.errors import SlowFastError

CHILD_MODULE = "slowfast_core.train.teach_child"  # the teaching child: `python -m` this, JSON lines on stdout


class TeachJob(QObject):
    """One teach in a child process. Signals arrive on the GUI thread (QProcess lives there)."""

    planned = Signal(dict)
    progress = Signal(dict)
    metrics = Signal(dict)
    succeeded = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, python: str = sys.executable) -> None:
        super().__init__(parent)
        self.python = python
        self.out = Path(tempfile.mkdtemp(prefix="slowfast-teach-"))
        self.process: QProcess | None = None
        self.warm: QProcess | None = None  # a child importing torch ahead of the job (see prewarm)
        self.ready = False  # the warm child said it is ready for its job
        self.children_started = 0
        self._buffer = b""
        self._error: str | None = None
        self._done = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, sessions: list[Path], *, base: str | None, background: bool, mode: str = "head",
              size: int = 0) -> None:
        """Start teaching `sessions` (the previous run's files are replaced)."""
        self.cancel()
        self._buffer, self._error, self._done = b"", None, False
        args = ["--out", str(self.out), "--train", mode]
        if base:
            args += ["--base", base]
        if size:
            args += ["--size", str(size)]
        if not background:
            args.append("--no-background")
        args += [str(p) for p in sessions]
        process, self.warm, self.ready = self.warm, None, False
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            self._buffer = bytes(process.readAllStandardOutput())  # its 'ready' line; the job's lines follow
            process.readyReadStandardOutput.disconnect(self._warm_read)
            process.write((json.dumps(args) + "\n").encode("utf-8"))
        else:
            process = self._new_child(["-m", CHILD_MODULE, *args])
        process.readyReadStandardOutput.connect(self._read)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        if process.state() == QProcess.ProcessState.NotRunning:
            process.start()

    def prewarm(self) -> None:
        """Start the next child now: it imports torch and the model code, then waits for its job on stdin.

        Importing torch is most of a teach's time on a small CPU (seconds to tens of seconds); the dialog
        calls this when it opens and after each run, so Train starts in about a second. The warm child exits
        by itself when its stdin closes (the dialog or the program went away), and a warm child that died
        is replaced by a fresh one at Train.
        """
        if self.warm is not None and self.warm.state() != QProcess.ProcessState.NotRunning:
            return
        self.ready = False
        self.warm = self._new_child(["-m", CHILD_MODULE, "--stdin"])
        self.warm.readyReadStandardOutput.connect(self._warm_read)
        self.warm.start()

    def _new_child(self, args: list[str]) -> QProcess:
        process = QProcess(self)
        process.setProgram(self.python)
        process.setArguments(args)
        self.children_started += 1
        return process

    def _warm_read(self) -> None:
        """Notice the warm child's `ready` line (left in its buffer for the job's reader)."""
        if self.warm is not None and b'"ready"' in bytes(self.warm.peek(4096)):
            self.ready = True

    def cancel(self) -> None:
        """Kill a running child (its half-written model stays in the job's private folder)."""
        process, self.process = self.process, None
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.finished.disconnect(self._finished)
            process.kill()
            process.waitForFinished(2000)

    def discard_warm(self) -> None:
        """Stop the waiting child (closing its stdin is enough; kill it if it is still importing)."""
        warm, self.warm, self.ready = self.warm, None, False
        if warm is not None and warm.state() != QProcess.ProcessState.NotRunning:
            warm.closeWriteChannel()
            if not warm.waitForFinished(1000):
                warm.kill()
                warm.waitForFinished(2000)

    def cleanup(self) -> None:
        self.cancel()
        self.discard_warm()
        shutil.rmtree(self.out, ignore_errors=True)

    def _read(self) -> None:
        if self.process is None:
            return
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                event = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue
            kind = event.get("event")
            if kind == "plan":
                self.planned.emit(event)
            elif kind == "progress":
                self.progress.emit(event)
            elif kind == "metrics":
                self.metrics.emit(event)
            elif kind == "result":
                self._done = True
                self.succeeded.emit(event)
            elif kind == "ready":
                continue
            elif kind == "error":
                self._error = str(event.get("message") or "teaching failed")

    def _process_error(self, err: QProcess.ProcessError) -> None:
        if err == QProcess.ProcessError.FailedToStart and self.process is not None:
            self.failed.emit(f"could not start the teaching process ({self.process.errorString()})")
            self.process = None

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process = self.process
        if process is None:
            return
        self._read()
        if self._done:
            return
        if self._error:
            self.failed.emit(self._error)
            return
        stderr = bytes(process.readAllStandardError()).decode("utf-8", "replace").strip().splitlines()
        last = stderr[-1] if stderr else ""
        how = "crashed" if status == QProcess.ExitStatus.CrashExit else f"stopped with exit code {code}"
        self.failed.emit(f"the teaching process {how}{': ' + last if last else ''}; nothing was changed")



def session_rows(root: Path) -> list[tuple[Path, str, dict[str, tuple[int, float]]]]:
    """Finished sessions under `root`: (folder, name, {label: (segments, seconds)}), newest first."""
    from slowfast_core.sessions.store import list_sessions, load_session

    rows = []
    for info in list_sessions(root):
        if info.unfinished or info.damaged:
            continue
        try:
            session = load_session(info.path)
        except SlowFastError:
            continue
        per: dict[str, tuple[int, float]] = {}
        for seg in session.labels:
            n, secs = per.get(seg.label, (0, 0.0))
            per[seg.label] = (n + 1, secs + max(0.0, seg.end - seg.start))
        rows.append((info.path, info.name, per))
    return rows
