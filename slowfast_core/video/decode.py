"""Reading video files with OpenCV: open with clear errors, then decode frames as (index, timestamp, BGR).

What can go wrong with a file, and what happens:
- missing, a folder, empty, or not something FFmpeg recognises (text, a cut MP4 without its index):
  `VideoError` with one line naming the file;
- a container that opens but holds no frames: `VideoError`;
- fps of 0, NaN or absurd: 30 fps is assumed, with a warning (timestamps are then index / 30);
- fewer frames than the container claims (a file cut short, a damaged stream): decoding stops at the first
  frame that cannot be read, with a warning; the frames decoded so far are kept.

Timestamps are `index / fps` seconds from the start of the file: deterministic, and what a player shows for
constant-rate files. (OpenCV's CAP_PROP_POS_MSEC is not reliable across backends.)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

# FFmpeg prints decoder complaints ("moov atom not found", "ac-tex damaged") straight to the process's
# stderr; we report those conditions ourselves in one line. OpenCV reads this once, at its first FFmpeg use.
# Set OPENCV_FFMPEG_LOGLEVEL yourself (e.g. 32) to see FFmpeg's messages again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402  (after the environment setting above)
import numpy as np  # noqa: E402

from slowfast_core.errors import VideoError  # noqa: E402
from slowfast_core.files import not_regular  # noqa: E402

logger = logging.getLogger(__name__)

#: Used when a file claims no usable frame rate; the rate the Kinetics models were trained at.
FALLBACK_FPS = 30.0
#: Above this a claimed frame rate is treated as broken metadata (some muxers write 90000 or 1000).
MAX_PLAUSIBLE_FPS = 1000.0
#: Frame counts estimated from duration x fps are often off by one; a shortfall beyond this is "cut short".
FRAME_COUNT_TOLERANCE = 1


class DecodedFrame(NamedTuple):
    """One decoded frame: its 0-based index in the file, its time in seconds, the (H, W, 3) BGR uint8 image."""

    index: int
    timestamp: float
    bgr: np.ndarray


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a file, with the frame rate made usable.

    fps: the rate used for timestamps (FALLBACK_FPS when the file claims none; then `fps_assumed` is True).
    frame_count: the container's claim, None when it gives none; the decoded count may be lower.
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int | None
    fps_assumed: bool = False

    @property
    def duration(self) -> float | None:
        """Claimed duration in seconds (frame_count / fps), None when the frame count is unknown."""
        return None if self.frame_count is None else self.frame_count / self.fps

    def describe(self) -> str:
        """A short line for people, e.g. '340x256, 28.00 fps, 280 frames (10.00 s)'."""
        fps = f"{self.fps:.2f} fps" + (" (assumed)" if self.fps_assumed else "")
        if self.frame_count is None:
            return f"{self.width}x{self.height}, {fps}, frame count unknown"
        return f"{self.width}x{self.height}, {fps}, {self.frame_count} frames ({self.duration:.2f} s)"


def usable_fps(claimed: float, path: Path | str = "") -> tuple[float, bool]:
    """(fps to use, assumed?): a claimed rate of 0, NaN, inf, negative or > MAX_PLAUSIBLE_FPS becomes 30."""
    if math.isfinite(claimed) and 0.0 < claimed <= MAX_PLAUSIBLE_FPS:
        return float(claimed), False
    logger.warning("%s claims a frame rate of %s; assuming %g fps for timestamps", path or "video", claimed,
                   FALLBACK_FPS)
    return FALLBACK_FPS, True


def _check_path(path: Path) -> None:
    """One-line VideoError for a path that cannot possibly be a readable video file. Only regular files are
    opened: a named pipe or a device would block the reader (and Ctrl-C) forever or never end."""
    if not path.exists():
        raise VideoError(f"video file {path} does not exist: check the path")
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file: pass a video file such as clip.mp4")
    kind = not_regular(path)
    if kind is not None:
        raise VideoError(f"{path} is {kind}, not a video file: pass a video file such as clip.mp4 (cameras: "
                         "--source camera:N)")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise VideoError(f"cannot read video file {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise VideoError(f"video file {path} is empty (0 bytes): pass a video that was fully written")


def open_capture(path: Path) -> cv2.VideoCapture:
    """An opened OpenCV capture of the file at `path`, or a one-line VideoError saying why it cannot be.

    The one place files are opened: `VideoReader` (offline) and `FileSource` (live) both use it.
    """
    _check_path(path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(
            f"{path} is not a video OpenCV can read (not a video, an unsupported codec, or a file cut "
            "short before its index was written): check the file plays in a video player"
        )
    return cap


class VideoReader:
    """An open video file. Use as a context manager; `frames()` decodes once, front to back.

        with VideoReader("clip.mp4") as video:
            print(video.info.describe())
            for index, timestamp, bgr in video.frames():
                ...

    After `frames()` is exhausted, `frames_read` is the number decoded and `cut_short` tells whether the
    file held fewer frames than its container claimed (a warning was logged then).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._cap = open_capture(self.path)
        claimed_count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps, assumed = usable_fps(self._cap.get(cv2.CAP_PROP_FPS), self.path)
        self.info = VideoInfo(
            path=self.path,
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=fps,
            frame_count=int(claimed_count) if math.isfinite(claimed_count) and claimed_count > 0 else None,
            fps_assumed=assumed,
        )
        self.frames_read = 0
        self.cut_short = False
        self._started = False

    def frames(self) -> Iterator[DecodedFrame]:
        """Decode every frame in order. Raises VideoError when the file yields no frame at all."""
        if self._started:
            raise RuntimeError("VideoReader.frames() decodes a file once; open a new VideoReader to read it again")
        self._started = True
        fps = self.info.fps
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                break
            index = self.frames_read
            self.frames_read += 1
            yield DecodedFrame(index, index / fps, bgr)
        self._finish()

    def _finish(self) -> None:
        """After the last frame: no frames at all is an error; fewer than claimed is a warning."""
        claimed = self.info.frame_count
        if self.frames_read == 0:
            claim = f" although it claims {claimed}" if claimed else ""
            raise VideoError(f"{self.path} contains no video frames OpenCV can decode{claim}: check the file plays")
        if claimed is not None and self.frames_read + FRAME_COUNT_TOLERANCE < claimed:
            self.cut_short = True
            logger.warning(
                "%s is cut short or damaged: decoded %d of the %d frames it claims (%.2f of %.2f s); "
                "keeping what was decoded",
                self.path, self.frames_read, claimed, self.frames_read / self.info.fps, claimed / self.info.fps,
            )

    def close(self) -> None:
        """Release the decoder (safe to call twice)."""
        self._cap.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open `path`, read its metadata and close it. Raises VideoError like `VideoReader`."""
    with VideoReader(path) as video:
        return video.info


def read_frames(path: str | os.PathLike[str]) -> Iterator[DecodedFrame]:
    """Every frame of `path` as (index, timestamp_seconds, bgr); the file is closed when iteration ends."""
    with VideoReader(path) as video:
        yield from video.frames()
