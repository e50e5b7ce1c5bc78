"""The session's video as ~1 s mp4v segments, each indexed in frames.csv only once it is safely on disk.

One `SegmentWriter` per recording, used from the recorder's writer thread only. A crash loses at most the
open segment; `close()` releases it and closes frames.csv (also after a failure).
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from slowfast_core.sessions.layout import FRAMES_CSV, SEGMENTS_DIR, SessionInfo, csv_line, fsync_dir, fsync_path
from slowfast_core.sessions.video import indexed_frames, open_writer

logger = logging.getLogger(__name__)


def segment_name(number: int) -> str:
    """File name of segment `number` inside segments/."""
    return f"{number:06d}.mp4"


class SegmentWriter:
    """Encodes frames into segments of `info.segment_seconds` and appends their rows to frames.csv."""

    def __init__(self, info: SessionInfo) -> None:
        self.info = info
        self.folder = info.path / SEGMENTS_DIR
        self.frames_per_segment = max(1, round(info.fps * info.segment_seconds))
        self.segments: list[tuple[Path, int]] = []  # closed segments and their frame counts
        self.frames_written = 0  # frames in closed segments
        self.last_time: float | None = None  # session time of the last frame in a closed segment
        self._writer: cv2.VideoWriter | None = None
        self._number = 0
        self._rows: list[tuple[int, int, int, float]] = []  # frame, segment, source index, time
        self._index = open(info.path / FRAMES_CSV, "a", encoding="utf-8", newline="")
        self._warned_resize = False

    @property
    def closed(self) -> bool:
        """True once `close()` ran: frames.csv is closed."""
        return self._index.closed

    def write(self, image: np.ndarray, source_index: int, time: float, *, order: str = "rgb") -> bool:
        """Encode one (H, W, 3) uint8 frame at session time `time`; closes the segment when it is full
        (returns True then). order: "rgb", or "bgr" for a frame in OpenCV's order (the source's own, which the
        capture keeps), written without a conversion. OSError when the segment cannot be written (disk full)."""
        info = self.info
        rgb = order == "rgb"
        if image.shape[0] != info.height or image.shape[1] != info.width:
            if not self._warned_resize:
                logger.warning("frames are %dx%d but the session records %dx%d: resizing",
                               image.shape[1], image.shape[0], info.width, info.height)
                self._warned_resize = True
            image = cv2.resize(image, (info.width, info.height), interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image  # (H, W, 3) BGR
        if self._writer is None:
            self._writer = open_writer(self.folder / segment_name(self._number), fps=info.fps, width=info.width,
                                       height=info.height)
        self._writer.write(bgr)
        self._rows.append((self.frames_written + len(self._rows), self._number, int(source_index), time))
        if len(self._rows) < self.frames_per_segment:
            return False
        self.close_segment()
        return True

    def close_segment(self) -> None:
        """Release the open segment, make sure it landed on disk, then append the rows of the frames it really
        holds to frames.csv: the index never claims a frame the video does not have.

        OpenCV's writer does not report failed writes: a disk that fills mid-segment leaves a file without
        its index (or with fewer frames), found here by reading the index back; the rows it lacks are dropped
        and OSError(ENOSPC) says so."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.release()
        seg = self.folder / segment_name(self._number)
        rows, self._rows = self._rows, []
        self._number += 1
        if not seg.is_file() or seg.stat().st_size == 0:
            raise OSError(errno.ENOSPC, "the video segment came out empty (disk full?)", str(seg))
        fsync_path(seg)
        fsync_dir(seg.parent)
        held = min(len(rows), indexed_frames(seg) or 0)
        if held:
            self._index.write("".join(csv_line(row) for row in rows[:held]))
            self._index.flush()
            os.fsync(self._index.fileno())
            self.segments.append((seg, held))
            self.frames_written += held
            self.last_time = rows[held - 1][3]
        if held < len(rows):
            raise OSError(errno.ENOSPC, f"the video segment holds {held} of its {len(rows)} frames (disk full?)",
                          str(seg))

    def close(self) -> None:
        """Close the open segment (OSError as `close_segment`) and, whatever happens, frames.csv."""
        try:
            self.close_segment()
        finally:
            try:
                self._index.close()
            except OSError as exc:  # its rows were flushed and fsynced at each segment: only the close failed
                logger.warning("could not close %s: %s", self.info.path / FRAMES_CSV, exc)
