"""Video files of a session: opening mp4v writers, counting readable frames, joining segments.

OpenCV's MP4 writer only makes a file readable when it is released (the index, `moov`, is written last),
so a recording writes short segments, each released before the next opens; a crash loses only the open
one. A normal stop (or a repair) joins them into one video.mp4 by decoding and re-encoding with mp4v.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.sessions.layout import SessionError, fsync_dir, fsync_path

FOURCC = "mp4v"  # works with the FFmpeg inside opencv-python-headless; H.264 does not

#: progress(done, total) during a join, in frames.
JoinProgress = Callable[[int, int], None]


def open_writer(path: Path, *, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """An mp4v VideoWriter for (width, height) BGR frames at `fps`; SessionError when it cannot open."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), float(fps), (int(width), int(height)))
    if not writer.isOpened():
        writer.release()
        raise SessionError(f"cannot create the video file {path}: check that the folder is writable and the "
                           "disk is not full")
    return writer


def count_frames(path: Path) -> int:
    """Frames that actually decode from `path` (0 when it does not open: a segment cut off by a crash)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()


def join_segments(
    parts: Sequence[tuple[Path, int]],
    out: Path,
    *,
    fps: float,
    width: int,
    height: int,
    progress: JoinProgress | None = None,
) -> int:
    """Write the first `n` frames of each (segment, n) in `parts`, in order, into one mp4v video `out`.

    The result goes to a temporary name first and is fsync'd and renamed into place only when complete,
    so an interrupted join never leaves a truncated `out`. Returns the number of frames written, which is
    less than sum(n) only when a segment decodes fewer frames than promised (the caller checks).
    """
    total = sum(n for _, n in parts)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    writer = open_writer(tmp, fps=fps, width=width, height=height)
    written = 0
    try:
        for path, n in parts:
            cap = cv2.VideoCapture(str(path))
            try:
                for _ in range(n):
                    ok, frame = cap.read()
                    if not ok:
                        break
                    frame = _fit(frame, width, height)  # (H, W, 3) BGR uint8
                    writer.write(frame)
                    written += 1
                    if progress is not None and (written % 30 == 0 or written == total):
                        progress(written, total)
            finally:
                cap.release()
    except BaseException:
        writer.release()
        tmp.unlink(missing_ok=True)
        raise
    writer.release()
    if written and (not tmp.is_file() or tmp.stat().st_size == 0):
        tmp.unlink(missing_ok=True)
        raise OSError(f"the joined video {tmp} came out empty (disk full?)")
    fsync_path(tmp)
    os.replace(tmp, out)
    fsync_dir(out.parent)
    return written


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` at (height, width): decoders may pad odd sizes; resize only when they differ."""
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame
