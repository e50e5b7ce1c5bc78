"""Frame sources: the interface behind a camera, a video file, or a synthetic scene.

A `FrameSource` is opened, read frame by frame (BGR uint8, as OpenCV decodes it) and closed. Live sources
(cameras, paced files, the synthetic scene) deliver frames at their own rate and skip frames when the reader
falls behind, as a camera does; an unpaced file delivers every frame as fast as it is read (offline analysis).
Open and read failures raise `SourceError` with a one-line message; the end of a file is `read() -> None`.

The sources themselves: `CameraSource` (cameras.py), `FileSource` (file_source.py), `SyntheticSource`
(synthetic.py) and the scripted actor (scripted.py). `source_text.parse_source("camera:0" | "camera:/dev/video0" |
"file:PATH" | "synthetic[:WxH@FPS]")` builds one from the command line's `--source` text.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from slowfast_core.errors import SourceError

DEFAULT_FPS = 30.0
MAX_FPS = 240.0


@dataclass(frozen=True)
class SourceInfo:
    """What an opened source delivers: frame size and the rate it claims (or the file's fps)."""

    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class SourceFrame:
    """One frame read from a source.

    media_time: seconds on the source's own clock (frame number / fps for files and the synthetic scene,
    None for cameras). due: monotonic time the frame was scheduled for (paced sources), None otherwise.
    skipped: frames the source dropped right before this one because the reader was behind.
    """

    image: np.ndarray  # (H, W, 3) BGR uint8
    media_time: float | None = None
    due: float | None = None
    skipped: int = 0


class FrameSource(ABC):
    """The interface every source implements. Not thread-safe except `interrupt()`."""

    #: True when frames arrive at the source's rate (camera, paced file, synthetic); False: as fast as read
    live: bool = True

    def __init__(self) -> None:
        self._interrupt = threading.Event()
        self._info: SourceInfo | None = None

    @property
    @abstractmethod
    def name(self) -> str:
        """Short description for status bars and logs, e.g. 'camera:0', 'file:clip.mp4', 'synthetic 640x480@30'."""

    @abstractmethod
    def _open(self) -> SourceInfo:
        """Open the underlying device or file; raise SourceError when that fails."""

    @abstractmethod
    def _read(self) -> SourceFrame | None:
        """Next frame, or None at the end of a file (or after `interrupt()`)."""

    def _close(self) -> None:
        """Release the underlying device or file (default: nothing to release)."""

    def open(self) -> SourceInfo:
        """Open (or reopen) the source and report the size and rate it actually delivers."""
        self._interrupt.clear()
        self._info = self._open()
        return self._info

    def read(self) -> SourceFrame | None:
        """The next frame; None at end of file or when interrupted. Raises SourceError when the device fails."""
        if self._info is None:
            raise SourceError(f"{self.name} is not open: call open() first")
        return self._read()

    def close(self) -> None:
        """Release the source; safe to call twice. It can be opened again."""
        self._info = None
        self._close()

    def interrupt(self) -> None:
        """Make a pending or future `read()` return None promptly (any thread); cleared by `open()`."""
        self._interrupt.set()

    @property
    def info(self) -> SourceInfo | None:
        """Size and rate after `open()`, None while closed."""
        return self._info

    def __enter__(self) -> "FrameSource":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frames(self) -> Iterator[SourceFrame]:
        """Every frame until the end (for offline use): open, read until None, close."""
        with self:
            while (frame := self.read()) is not None:
                yield frame


class Pacer:
    """Delivers frame numbers at a fixed rate; when the reader is more than a frame behind, skips frames.

    Skipping (instead of delivering a backlog) is what a camera does: the newest frame replaces unread ones.
    The schedule starts at the first read, not at open: a source opened before a model was built has not
    been "dropping" frames meanwhile.
    """

    def __init__(self, fps: float, first_frame: int = 0) -> None:
        self.period = 1.0 / fps
        self.start: float | None = None
        self.next_frame = first_frame

    def restart(self) -> None:
        """Start the schedule again at the next read (after a stall: a stalled camera produced nothing to skip)."""
        self.start = None

    def wait_next(self, interrupt: threading.Event) -> tuple[int, float, int] | None:
        """Block until the next frame is due: (frame number, due time, frames skipped); None if interrupted."""
        now = time.monotonic()
        if self.start is None:
            self.start = now - self.next_frame * self.period
        behind = int(math.floor((now - self.start) / self.period)) - self.next_frame
        skipped = max(0, behind)  # frames whose time has fully passed: the newest one is delivered now
        number = self.next_frame + skipped
        due = self.start + number * self.period
        if due > now and interrupt.wait(due - now):
            return None
        if interrupt.is_set():
            return None
        self.next_frame = number + 1
        return number, due, skipped


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own stderr warnings (e.g. 'can't open camera by index'): we raise clear errors instead."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)
