"""Playing a recorded session's video back, decoded off the GUI thread.

`ReplayPlayer` is a Qt worker (QObject moved to its own QThread): the GUI asks it to open, play, pause and
seek through queued signals; it decodes with OpenCV at the video's rate on a QTimer that lives in the worker
thread and hands over only the newest decoded frame (the GUI never falls behind a backlog). `ReplayController`
owns the thread and stops it with a flag, quit() and wait(). `FrameCanvas` shows the frames.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app import palette


class ReplayPlayer(QObject):
    """Decodes one video file; lives in the replay thread. Talk to it only through its slots (queued)."""

    frameAvailable = Signal()  # newest frame waits in `take_frame()`
    opened = Signal(int, float)  # frame count, fps
    failed = Signal(str)
    stateChanged = Signal(bool)  # playing

    def __init__(self) -> None:
        super().__init__()
        self._cap: cv2.VideoCapture | None = None
        self._timer: QTimer | None = None
        self._lock = threading.Lock()
        self._newest: tuple[int, np.ndarray] | None = None
        self._pending = False
        self._stopping = threading.Event()
        self._next = 0
        self._count = 0
        self._fps = 30.0

    # --- worker-thread side ---------------------------------------------------------------------------------
    @Slot(str)
    def open(self, path: str) -> None:
        """Open `path` and show its first frame."""
        self._release()
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            self.failed.emit(f"cannot read the session video {path}: the file is missing or damaged")
            return
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and 0 < fps <= 240 else 30.0
        self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._next = 0
        if self._timer is None:
            self._timer = QTimer(self)  # created here, so it lives in (and fires on) the worker thread
            self._timer.timeout.connect(self._step)
        self._timer.setInterval(max(5, int(round(1000 / self._fps))))
        self.opened.emit(self._count, self._fps)
        self._step()

    @Slot()
    def play(self) -> None:
        if self._cap is not None and self._timer is not None and not self._stopping.is_set():
            if self._count and self._next >= self._count:
                self.seek(0)
            self._timer.start()
            self.stateChanged.emit(True)

    @Slot()
    def pause(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.stateChanged.emit(False)

    @Slot(int)
    def seek(self, frame: int) -> None:
        """Jump to video frame `frame` and show it."""
        if self._cap is None:
            return
        frame = max(0, min(frame, max(0, self._count - 1)))
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        self._next = frame
        self._step()

    @Slot()
    def close(self) -> None:
        """Release the file (before its folder is renamed or deleted)."""
        self._release()
        self.stateChanged.emit(False)

    @Slot()
    def shutdown(self) -> None:
        """Stop the timer and release the file (runs on the worker thread before it quits)."""
        self._stopping.set()
        if self._timer is not None:
            self._timer.stop()
        self._release()

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._cap is not None:
            self._cap.release()
        self._cap = None

    def _step(self) -> None:
        if self._cap is None or self._stopping.is_set():
            return
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self._timer is not None and self._timer.isActive():
                self._timer.stop()
                self.stateChanged.emit(False)
            return
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # (H, W, 3) RGB uint8
        with self._lock:
            self._newest = (self._next, rgb)
            notify = not self._pending
            self._pending = True
        self._next += 1
        if notify:
            self.frameAvailable.emit()

    # --- GUI side -------------------------------------------------------------------------------------------
    def take_frame(self) -> tuple[int, np.ndarray] | None:
        """(video frame number, RGB image) of the newest decoded frame, or None; re-arms the notice."""
        with self._lock:
            item, self._newest = self._newest, None
            self._pending = False
        return item


class ReplayController(QObject):
    """Owns the replay thread and its player; the sessions view uses this from the GUI thread."""

    requestOpen = Signal(str)
    requestPlay = Signal()
    requestPause = Signal()
    requestSeek = Signal(int)
    requestClose = Signal()
    requestShutdown = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("replay")
        self.player = ReplayPlayer()
        self.player.moveToThread(self.thread)
        self.requestOpen.connect(self.player.open)
        self.requestPlay.connect(self.player.play)
        self.requestPause.connect(self.player.pause)
        self.requestSeek.connect(self.player.seek)
        self.requestClose.connect(self.player.close)
        self.requestShutdown.connect(self.player.shutdown)
        self.thread.start()

    def stop(self, timeout_ms: int = 1500) -> bool:
        """Release the video, quit the thread and wait for it (bounded). True when it ended."""
        if not self.thread.isRunning():
            return True
        self.requestShutdown.emit()
        self.thread.quit()
        return self.thread.wait(timeout_ms)


class FrameCanvas(QWidget):
    """Shows one RGB frame scaled with its aspect kept."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None
        self.message = "select a session to replay it"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 160)

    def sizeHint(self) -> QSize:
        return QSize(560, 360)

    def set_frame(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self._image, self._buffer = None, None
        else:
            self._buffer = np.ascontiguousarray(rgb)
            h, w = self._buffer.shape[:2]
            self._image = QImage(self._buffer.data, w, h, self._buffer.strides[0], QImage.Format.Format_RGB888)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), palette.BACKGROUND)
        if self._image is None:
            p.setPen(palette.MUTED)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        else:
            w, h = self._image.width(), self._image.height()
            s = min(self.width() / w, self.height() / h)
            p.drawImage(QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s), self._image)
        p.end()
