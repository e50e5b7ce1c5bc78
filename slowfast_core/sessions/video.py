"""Video files of a session: opening mp4v writers, counting readable frames, joining segments.

OpenCV's MP4 writer only makes a file readable when it is released (the index, `moov`, is written last),
so a recording writes short segments, each released before the next opens; a crash loses only the open
one. A normal stop (or a repair) joins them into one video.mp4: by copying the compressed frames with
PyAV when it is installed (lossless, fast), else by decoding and re-encoding them with OpenCV.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from slowfast_core.sessions.layout import SessionError, fsync_dir, fsync_path

FOURCC = "mp4v"  # works with the FFmpeg inside opencv-python-headless; H.264 does not

logger = logging.getLogger(__name__)

#: progress(done, total) during a join, in frames.
JoinProgress = Callable[[int, int], None]
JoinMethod = Literal["auto", "remux", "reencode"]


def open_writer(path: Path, *, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """An mp4v VideoWriter for (width, height) BGR frames at `fps`; SessionError when it cannot open."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), float(fps), (int(width), int(height)))
    if not writer.isOpened():
        writer.release()
        raise SessionError(f"cannot create the video file {path}: check that the folder is writable and the "
                           "disk is not full")
    return writer


def has_index(path: Path) -> bool:
    """True when the MP4 file `path` has its index (a top-level `moov` box): OpenCV writes it on release,
    so a segment cut off by a crash lacks it. Checked by walking the box headers, without FFmpeg's noise."""
    try:
        with open(path, "rb") as f:
            size_total = os.fstat(f.fileno()).st_size
            pos = 0
            while pos + 8 <= size_total:
                f.seek(pos)
                header = f.read(16)
                size, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if size == 1 and len(header) == 16:
                    size = int.from_bytes(header[8:16], "big")  # 64-bit box size
                elif size == 0:
                    size = size_total - pos  # the box runs to the end of the file
                if kind == b"moov":
                    return pos + size <= size_total
                if size < 8:
                    return False
                pos += size
    except OSError:
        return False
    return False


def indexed_frames(path: Path) -> int | None:
    """The frame count an MP4's index claims, read without decoding (a few ms): None when the file has no
    index (cut off by a crash or a full disk) or does not open."""
    if not has_index(path):
        return None
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return int(n) if n == n and 0 <= n < 1e12 else None  # n == n: not NaN
    finally:
        cap.release()


def count_frames(path: Path) -> int:
    """Frames that actually decode from `path` (0 when it does not open: a segment cut off by a crash)."""
    if path.suffix.lower() == ".mp4" and not has_index(path):
        return 0
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
    method: JoinMethod = "auto",
) -> int:
    """Write the first `n` frames of each (segment, n) in `parts`, in order, into one mp4v video `out`.

    method "remux" copies the compressed frames (lossless, ~1000x faster; needs PyAV), "reencode" decodes
    and encodes them again with OpenCV (a few ms per frame), "auto" remuxes when PyAV is importable and
    falls back to re-encoding if that fails. The result goes to a temporary name first and is fsync'd and
    renamed into place only when complete, so an interrupted join never leaves a truncated `out`. Returns
    the number of frames written, less than sum(n) only when a segment holds fewer frames than promised.
    """
    if method not in ("auto", "remux", "reencode"):
        raise ValueError(f"join method must be auto, remux or reencode, got {method!r}")
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    written = None
    if method in ("auto", "remux") and (method == "remux" or _have_av()):
        try:
            written = _remux(parts, tmp, progress=progress)
        except Exception as exc:  # noqa: BLE001 - PyAV raises its own error types; re-encoding still works
            tmp.unlink(missing_ok=True)
            if method == "remux" or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                raise  # a full disk fails a re-encode just the same
            logger.info("remuxing into %s failed (%s): re-encoding instead", out, exc)
    if written is None:
        written = _reencode(parts, tmp, fps=fps, width=width, height=height, progress=progress)
    if written and (not tmp.is_file() or tmp.stat().st_size == 0):
        tmp.unlink(missing_ok=True)
        raise OSError(f"the joined video {tmp} came out empty (disk full?)")
    if not written:
        tmp.unlink(missing_ok=True)
        return 0
    fsync_path(tmp)
    os.replace(tmp, out)
    fsync_dir(out.parent)
    return written


def _reencode(
    parts: Sequence[tuple[Path, int]], tmp: Path, *, fps: float, width: int, height: int,
    progress: JoinProgress | None,
) -> int:
    """Join by decoding each segment with OpenCV and encoding the frames again into `tmp`."""
    total = sum(n for _, n in parts)
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
    return written


def _remux(parts: Sequence[tuple[Path, int]], tmp: Path, *, progress: JoinProgress | None) -> int:
    """Join by copying each segment's first n compressed frames into `tmp`, shifting their timestamps.

    Requires frames stored in presentation order (no B-frames: OpenCV's mp4v writer uses none); raises
    ValueError otherwise so that the caller re-encodes.
    """
    import av

    total = sum(n for _, n in parts)
    written = 0
    with av.open(str(tmp), "w") as output:
        ostream = None
        offset = 0  # in the segments' time base
        for path, n in parts:
            with av.open(str(path)) as inp:
                istream = inp.streams.video[0]
                if ostream is None:
                    ostream = output.add_stream_from_template(istream)
                copied, end = 0, offset
                for packet in inp.demux(istream):
                    if packet.dts is None or packet.pts is None:
                        continue  # the demuxer's final empty packet
                    if copied >= n:
                        break
                    if packet.pts != packet.dts:
                        raise ValueError(f"{path} stores frames out of order (B-frames): cannot remux")
                    stop = packet.pts + (packet.duration or 0)
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = ostream
                    output.mux(packet)
                    copied += 1
                    written += 1
                    end = max(end, offset + stop)
                    if progress is not None and (written % 30 == 0 or written == total):
                        progress(written, total)
                offset = end
    return written


def _have_av() -> bool:
    """True when PyAV can be imported (it is optional: only the fast, lossless join needs it)."""
    try:
        import av  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError or a broken binary wheel
        return False
    return True


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` at (height, width): decoders may pad odd sizes; resize only when they differ."""
    if frame.shape[1] != width or frame.shape[0] != height:
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame
