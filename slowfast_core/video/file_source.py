"""Video files as a frame source: paced like a camera (live) or every frame as fast as read (offline)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from slowfast_core.errors import SourceError
from slowfast_core.video.decode import open_capture, usable_fps
from slowfast_core.video.sources import DEFAULT_FPS, FrameSource, Pacer, SourceFrame, SourceInfo, quiet_opencv


class FileSource(FrameSource):
    """Any OpenCV-readable video file.

    paced=True: delivered at the file's fps like a live camera (frames skipped when the reader is behind);
    paced=False: every frame, as fast as read (offline analysis). loop=True starts again at the end, with
    media time and frame numbers continuing.
    """

    def __init__(self, path: str | Path, *, paced: bool = True, loop: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.paced = paced
        self.loop = loop
        self.live = paced
        self._cap: cv2.VideoCapture | None = None
        self._pacer: Pacer | None = None
        self._number = 0  # frames delivered or skipped since open (media frame number)
        self._in_file = 0  # position inside the current pass through the file
        self._fps = DEFAULT_FPS
        self._pending: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    def _open_capture(self) -> cv2.VideoCapture:
        with quiet_opencv():
            return open_capture(self.path)  # VideoError (a SourceError) for missing, empty, not-a-video files

    def _open(self) -> SourceInfo:
        cap = self._open_capture()
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"{self.path} has no readable frames: check that it is a complete video file")
        self._fps, _assumed = usable_fps(cap.get(cv2.CAP_PROP_FPS), self.path)  # as `slowfast predict` does
        self._cap, self._pending = cap, frame
        self._number, self._in_file = 0, 0
        self._pacer = Pacer(self._fps) if self.paced else None
        return SourceInfo(frame.shape[1], frame.shape[0], self._fps)

    def _next_decoded(self, *, decode: bool = True) -> np.ndarray | None:
        """The next frame of the file (restarting it when looping); None at its end. decode=False: skip it."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self._in_file += 1
            return frame
        assert self._cap is not None
        for _attempt in range(2):
            if decode:
                ok, frame = self._cap.read()
            else:
                ok, frame = self._cap.grab(), None
            if ok:
                self._in_file += 1
                return frame if decode else np.empty(0, np.uint8)
            if not self.loop or self._in_file == 0:
                return None
            self._cap.release()
            self._cap = self._open_capture()
            self._in_file = 0
        return None

    def _read(self) -> SourceFrame | None:
        if self._interrupt.is_set() or self._cap is None:
            return None
        due, skipped = None, 0
        if self._pacer is not None:
            timing = self._pacer.wait_next(self._interrupt)
            if timing is None:
                return None
            number, due, skipped = timing
            for _ in range(number - self._number):
                if self._next_decoded(decode=False) is None:
                    return None
        frame = self._next_decoded()
        if frame is None:
            return None
        media_time = (self._number + skipped) / self._fps
        self._number += skipped + 1
        return SourceFrame(frame, media_time=media_time, due=due, skipped=skipped)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._pending = None, None
