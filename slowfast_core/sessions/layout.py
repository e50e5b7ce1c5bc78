"""What a session folder holds, and the small readers/writers for its files.

A session is a folder:
```
session.json        metadata (program version, model, weights, source, fps, resolution, start time,
                    label set, state: recording | finished | repaired)
video.mp4           the video at the source's resolution and fps (after a normal stop or a repair)
segments/NNNNNN.mp4 while recording: ~1 s pieces, each closed before the next opens (crash safety)
frames.csv          frame,segment,source_index,time  (one row per frame of the video, in order)
labels.csv          label,start,end                   (one row per finished labeled segment)
current_label.json  while recording: the labeled segment that is open right now
predictions.jsonl   one JSON object per prediction
repair-backup/      the files `repair_session` rewrote, as they were before (never read back)
```
Every time in these files is seconds since the session's first frame (time 0 = that frame's timestamp on the
engine's clock, `clock_origin` in session.json: time.monotonic() for live sources, media time for files
played on their own clock). session.json also keeps the wall-clock start as ISO 8601.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slowfast_core.errors import SlowFastError

SESSION_JSON = "session.json"
VIDEO_FILE = "video.mp4"
VIDEO_PART = "video.part.mp4"  # the join writes here first, then renames (cv2 picks the muxer by extension)
SEGMENTS_DIR = "segments"
FRAMES_CSV = "frames.csv"
LABELS_CSV = "labels.csv"
CURRENT_LABEL = "current_label.json"
PREDICTIONS_JSONL = "predictions.jsonl"
REPAIR_BACKUP_DIR = "repair-backup"
FORMAT_VERSION = 1

FRAMES_HEADER = ("frame", "segment", "source_index", "time")
LABELS_HEADER = ("label", "start", "end")

SessionState = Literal["recording", "finished", "repaired"]
STATES: tuple[str, ...] = ("recording", "finished", "repaired")



class SessionError(SlowFastError):
    """A session folder is missing, unreadable, unfinished, or cannot be written."""


@dataclass(frozen=True)
class LabeledSegment:
    """One span of time carrying one label. Times are seconds since the session start; end > start."""

    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length of the span in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file of a session, found by the reader (slowfast_core.sessions.reader).

    file: the file inside the session folder ("session.json", "labels.csv", "video.mp4", ...); what: one line
    saying what is wrong and what the reader did about it (skipped rows, a default used); repair: what
    `repair_session` does about it, or None when nothing can (a deleted video cannot come back).
    """

    file: str
    what: str
    repair: str | None = None

    def __str__(self) -> str:
        fix = f"; repair {self.repair}" if self.repair else "; repair cannot fix this"
        return f"{self.file}: {self.what}{fix}"


@dataclass
class SessionInfo:
    """The content of session.json, plus the folder it was read from (`path`, not stored in the file).

    Read back by the validating reader, it also carries the `problems` found (a field of the wrong type, an
    absurd value, a missing video...: placeholders stand in for bad fields), the file's `raw` content and the
    names of the `invalid` fields, so that writing it back keeps what was there (bad values and keys a newer
    program wrote included) instead of replacing the user's data with placeholders.
    """

    name: str
    labels: list[str]
    source: str
    fps: float
    width: int
    height: int
    model: str
    weights: str | None
    program_version: str
    start_time: str  # wall clock, ISO 8601 with the UTC offset
    clock_origin: float | None = None  # the engine-clock timestamp of time 0 (the first frame's), once known
    state: str = "recording"
    segment_seconds: float = 1.0
    frames: int = 0  # frames in the video (known once finished or repaired)
    duration: float = 0.0  # seconds from the session start to the last frame
    frames_dropped: int = 0  # frames the recorder could not keep up with (the writer's queue was full)
    end_time: str | None = None
    error: str | None = None  # why the recording stopped itself (disk full, writer failure), if it did
    pid: int | None = None  # the recording process, to tell a crashed session from one still being recorded
    pid_started: float | None = None  # that process's start time (psutil), so a reused pid is not mistaken
    repair: dict[str, Any] | None = None  # what repair_session did, when it did
    format: int = FORMAT_VERSION
    path: Path = field(default=Path("."), compare=False)
    problems: tuple[Problem, ...] = field(default=(), compare=False, repr=False)
    raw: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    invalid: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def folder(self) -> str:
        """The session folder's name (its identifier on the command line)."""
        return self.path.name

    @property
    def unfinished(self) -> bool:
        """True while session.json still says "recording" (in progress, crashed, or stopped by an error)."""
        return self.state == "recording"

    @property
    def damaged(self) -> bool:
        """True when the reader found problems in the session's files (see `problems`)."""
        return bool(self.problems)

    def to_json(self) -> dict[str, Any]:
        """The dict written to session.json: every field but the reader's bookkeeping; fields that were
        invalid when read keep their original value, and keys this version does not know are kept."""
        data = {f: getattr(self, f) for f in SESSION_FIELDS}
        if self.raw is None:
            return data
        out = dict(self.raw)
        out.update({k: v for k, v in data.items() if k not in self.invalid})
        return out


#: The fields of SessionInfo stored in session.json, in file order.
SESSION_FIELDS: tuple[str, ...] = tuple(
    f for f in SessionInfo.__dataclass_fields__ if f not in ("path", "problems", "raw", "invalid"))


def write_info(info: SessionInfo) -> None:
    """Write session.json atomically (temp file, fsync, rename): a crash leaves the old or the new one."""
    atomic_write_text(info.path / SESSION_JSON, json.dumps(info.to_json(), indent=2) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers never see a half-written file, even after a crash.

    On failure (a full disk) the old file stays as it was and no temporary file is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so that renames and new files in it survive a power cut (no-op where unsupported)."""
    if sys.platform.startswith("win"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    """fsync a file that someone else (OpenCV, another handle) wrote. Raises OSError like any write would."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def csv_line(values: tuple[object, ...] | list[object]) -> str:
    """One CSV line (with its newline) for `values`; floats keep 6 decimals (microseconds)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([f"{v:.6f}" if isinstance(v, float) else v for v in values])
    return buf.getvalue()


def labels_text(segments: list[LabeledSegment]) -> str:
    """The full text of a labels.csv holding `segments`."""
    return csv_line(list(LABELS_HEADER)) + "".join(csv_line((s.label, s.start, s.end)) for s in segments)


def _one_line(exc: BaseException) -> str:
    """An exception as a single short line."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
