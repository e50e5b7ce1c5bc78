"""Background work for the GUI: Qt workers (QObject + moveToThread) that never block the event loop.

`TaskRunner.start(fn, ...)` runs `fn(ctx)` in a worker object moved to its own QThread and returns a
`TaskHandle` that lives on the GUI thread: its `done`, `failed` and `progress` signals are delivered in the
GUI thread, so anything may be connected to them. `ctx.cancelled` is a flag the function checks between
steps; `TaskRunner.shutdown()` sets every flag, asks every thread to quit() and wait()s a bounded time
(never terminate(): a thread still busy is reported and waited for at exit instead).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from slowfast_core.errors import SlowFastError

logger = logging.getLogger(__name__)

#: Threads that outlived a shutdown: kept referenced (a QThread destroyed while running aborts the
#: process) and waited for by `wait_lingering()` before the program exits.
_LINGERING: list[tuple[QThread, QObject]] = []


class TaskContext:
    """What a background function gets: a cancel flag and a progress reporter (thread-safe)."""

    def __init__(self, worker: "_Worker") -> None:
        self._worker = worker
        self.cancel_event = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once the task was cancelled; the function should return soon."""
        return self.cancel_event.is_set()

    def progress(self, fraction: float | None, text: str = "") -> None:
        """Report progress (fraction in [0, 1], or None when unknown) with a short text."""
        self._worker.progress.emit(-1.0 if fraction is None else float(fraction), text)


class _Worker(QObject):
    """Runs one function in the thread it was moved to and reports back through signals."""

    done = Signal(object)
    failed = Signal(str)
    progress = Signal(float, str)
    finished = Signal()

    def __init__(self, fn: Callable[[TaskContext], Any]) -> None:
        super().__init__()
        self._fn = fn
        self.ctx = TaskContext(self)

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self.ctx)
        except SlowFastError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message in the window, never a crash
            logger.exception("background task failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()


class TaskHandle(QObject):
    """The GUI-thread face of one task. Signals fire on the GUI thread; `cancel()` sets the task's flag."""

    done = Signal(object)
    failed = Signal(str)
    progress = Signal(float, str)
    finished = Signal()

    def __init__(self, name: str, worker: _Worker, thread: QThread, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._worker = worker
        self._thread = thread
        self.is_finished = False
        # Bound methods of this GUI-thread object: Qt queues these calls from the worker thread.
        worker.done.connect(self._relay_done)
        worker.failed.connect(self._relay_failed)
        worker.progress.connect(self._relay_progress)
        worker.finished.connect(self._relay_finished)

    @Slot(object)
    def _relay_done(self, result: object) -> None:
        self.done.emit(result)

    @Slot(str)
    def _relay_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot(float, str)
    def _relay_progress(self, fraction: float, text: str) -> None:
        self.progress.emit(fraction, text)

    @Slot()
    def _relay_finished(self) -> None:
        self.is_finished = True
        self.finished.emit()

    def cancel(self) -> None:
        """Ask the task to stop at its next check."""
        self._worker.ctx.cancel_event.set()

    @property
    def thread(self) -> QThread:
        return self._thread


class TaskRunner(QObject):
    """Starts tasks on their own QThreads and stops them all on shutdown."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: list[tuple[TaskHandle, _Worker, QThread]] = []

    def start(self, name: str, fn: Callable[[TaskContext], Any]) -> TaskHandle:
        """Run `fn(ctx)` in a new QThread; connect to the returned handle's signals."""
        thread = QThread()
        thread.setObjectName(f"task:{name}")
        worker = _Worker(fn)
        worker.moveToThread(thread)
        handle = TaskHandle(name, worker, thread, self)
        thread.started.connect(worker.run)
        worker.finished.connect(thread.quit)
        handle.finished.connect(self._reap)
        thread.finished.connect(self._reap)
        self._tasks.append((handle, worker, thread))
        thread.start()
        return handle

    @Slot()
    def _reap(self) -> None:
        """Forget finished tasks once their thread has ended (keeps references until then)."""
        keep = []
        for handle, worker, thread in self._tasks:
            if handle.is_finished and thread.wait(0):
                worker.deleteLater()
                handle.deleteLater()
            else:
                keep.append((handle, worker, thread))
        self._tasks = keep

    def running(self) -> list[str]:
        """Names of the tasks still running."""
        return [h.name for h, _, _ in self._tasks if not h.is_finished]

    def shutdown(self, timeout_s: float = 1.5) -> bool:
        """Cancel every task, quit() every thread and wait() up to `timeout_s` in total. True if all ended."""
        deadline = time.monotonic() + timeout_s
        for handle, _, thread in self._tasks:
            handle.cancel()
            thread.quit()
        ok = True
        for handle, worker, thread in self._tasks:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not thread.wait(remaining_ms):
                logger.warning("background task %s is still busy; it will be waited for at exit", handle.name)
                _LINGERING.append((thread, worker))
                ok = False
        self._tasks = []
        return ok


def wait_lingering() -> None:
    """Wait for threads that outlived their window (called once the event loop has ended)."""
    while _LINGERING:
        thread, _worker = _LINGERING.pop()
        thread.wait()
